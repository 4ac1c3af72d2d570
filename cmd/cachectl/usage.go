package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cachekit/cachekit/cacheenv"
)

const usageIntro = `cachectl reads, writes and exercises a cachekit cache from the command line.

Usage:
  cachectl [flags] COMMAND [ARGS] [flags]

Flags may come before or after the command and its arguments.
`

const memoryNote = `The memory backend, the default, lives inside each cachectl process: an entry set by one
run is gone when it exits, so "cachectl set" then "cachectl get" misses. bench and health
are meant for it; dashboard and alarms read no backend; the other commands are for the remote
backends.
`

const exitCodes = `Exit codes:
  0  success: a hit, a present key, a healthy probe
  1  a miss, an absent key, an unhealthy probe, a request limit denies
  2  bad usage or configuration: an unknown command or flag, a missing argument, an invalid
     duration, key, TTL, JSON value or RATE, a value too large for the backend, clear
     without --yes, incr on an entry that is not a counter
  3  the backend failed
`

// writeUsage writes cachectl's help, with the flag defaults that cfg, the environment's
// Config, gives.
func writeUsage(w io.Writer, cfg cacheenv.Config) {
	fmt.Fprint(w, usageIntro)
	fmt.Fprintln(w, "\nCommands:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, cmd := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(cmd.name+" "+cmd.synopsis), cmd.summary)
	}
	fmt.Fprintf(tw, "  help [COMMAND]\tshow this help, or a command's flags\n")
	tw.Flush()

	fmt.Fprintln(w, "\nGlobal flags (each defaults from its environment variable):")
	writeFlags(w, globalFlagSet(cfg))

	fmt.Fprintln(w, "\nEnvironment:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, v := range cacheenv.Variables() {
		fmt.Fprintf(tw, "  %s\t%s (default: %s)\n", v.Name, plain(v.Doc), plain(v.Default))
	}
	fmt.Fprintf(tw, "  AWS_REGION, AWS_PROFILE, ...\tdynamodb: the AWS SDK's own configuration and credentials\n")
	tw.Flush()

	fmt.Fprintln(w)
	fmt.Fprint(w, memoryNote)
	fmt.Fprintln(w)
	fmt.Fprint(w, exitCodes)
}

// writeCommandUsage writes the help of one command.
func writeCommandUsage(w io.Writer, cmd *command, cfg cacheenv.Config) {
	fmt.Fprintf(w, "Usage:\n  cachectl %s [flags]\n\n%s.\n\n", strings.TrimSpace(cmd.name+" "+cmd.synopsis),
		strings.ToUpper(cmd.summary[:1])+cmd.summary[1:])
	if cmd.details != "" {
		fmt.Fprintf(w, "%s\n", cmd.details)
	}
	if cmd.flags != nil {
		fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		cfg = withDefaults(cfg)
		cmd.flags(fs, new(options), &cfg)
		fmt.Fprintln(w, "\nFlags:")
		writeFlags(w, fs)
	}
	fmt.Fprintln(w, "\nGlobal flags:")
	writeFlags(w, globalFlagSet(cfg))
}

// globalFlagSet returns the global flags with the defaults cfg gives.
func globalFlagSet(cfg cacheenv.Config) *flag.FlagSet {
	fs := flag.NewFlagSet("cachectl", flag.ContinueOnError)
	cfg = withDefaults(cfg)
	cfg.StorageType = cfg.Backend()
	globalFlags(fs, &cfg, new(bool))
	return fs
}

// writeFlags lists the flags of fs as "--name VALUE  usage (default ...)".
func writeFlags(w io.Writer, fs *flag.FlagSet) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if arg != "" {
			left += " " + arg
		}
		switch f.DefValue {
		case "", "false", "0":
		default:
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", left, usage)
	})
	tw.Flush()
}

// plain drops the Markdown code marks of the variables' docs, for a terminal.
func plain(s string) string { return strings.ReplaceAll(s, "`", "") }
