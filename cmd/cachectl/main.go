package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cacheenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal asks the command to stop (bench still prints its summary); a second
	// one, with the default handling restored, ends the process at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes, as the help text documents them.
const (
	exitOK      = 0 // success: a hit, a present key, a healthy probe
	exitMiss    = 1 // a miss, an absent key, an unhealthy probe, a request the limit denies
	exitUsage   = 2 // bad usage or configuration, or an entry incr cannot count
	exitBackend = 3 // the backend failed
)

// run runs the cachectl command line args, writing to stdout and stderr, and returns the exit
// code. It reads the environment only through cacheenv.Load.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return newCLI(stdout, stderr).run(ctx, args)
}

// cli holds what a run writes to and the seams that tests replace.
type cli struct {
	stdin          io.Reader // what set reads a value from, given @-
	stdout, stderr io.Writer
	// open builds the Cache a command uses; tests put in one that shares a Store across runs.
	open func(cacheenv.Config) (*cachekit.Cache, error)
	// tty says that stderr is a terminal, where bench's progress line rewrites itself.
	tty bool
	// progressEvery is how often bench reports progress.
	progressEvery time.Duration
	// clock tells limit's windows the time; nil is the system clock. Tests stand it still, so
	// that no run crosses a window's edge.
	clock backend.Clock
}

func newCLI(stdout, stderr io.Writer) *cli {
	return &cli{
		stdin:         os.Stdin,
		stdout:        stdout,
		stderr:        stderr,
		open:          cacheenv.Open,
		tty:           isTerminal(stderr),
		progressEvery: time.Second,
	}
}

// invocation is what one command sees: its configuration, flags, arguments and Cache.
type invocation struct {
	*cli
	name  string // the command's
	cfg   cacheenv.Config
	json  bool
	opts  options
	given map[string]bool // the flags the command line set, by name
	args  []string
	cache *cachekit.Cache
}

func (c *cli) run(ctx context.Context, args []string) int {
	// An invalid environment is reported only once a command needs it, so help still works.
	cfg, envErr := cacheenv.Load()

	// The first pass only finds the command's name, and whether help is asked for.
	p, err := parseArgs(flagShapes(), args)
	if err != nil {
		if len(p.positional) > 0 && lookup(p.positional[0]) != nil {
			return c.fail(p.positional[0], err)
		}
		return c.fail("", err)
	}
	if len(p.positional) == 0 {
		if p.help {
			writeUsage(c.stdout, cfg)
			return exitOK
		}
		writeUsage(c.stderr, cfg)
		return exitUsage
	}
	name := p.positional[0]
	if name == "help" {
		return c.help(cfg, p.positional[1:])
	}
	cmd := lookup(name)
	if cmd == nil {
		return c.fail("", usagef("unknown command %q", name))
	}
	if p.help {
		writeCommandUsage(c.stdout, cmd, cfg)
		return exitOK
	}
	if envErr != nil {
		return c.fail(name, envErr)
	}

	inv := &invocation{cli: c, name: name, cfg: withDefaults(cfg)}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	globalFlags(fs, &inv.cfg, &inv.json)
	if cmd.flags != nil {
		cmd.flags(fs, &inv.opts, &inv.cfg)
	}
	if p, err = parseArgs(fs, args); err != nil {
		return c.fail(name, err)
	}
	inv.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { inv.given[f.Name] = true })
	inv.args = p.positional[1:]
	inv.cfg = withDefaults(inv.cfg) // --prefix "" means the default prefix, as the variable does
	if n := len(inv.args); n < cmd.minArgs || cmd.maxArgs >= 0 && n > cmd.maxArgs {
		return c.fail(name, usagef("usage: cachectl %s", strings.TrimSpace(cmd.name+" "+cmd.synopsis)))
	}
	inv.cfg.StorageType = strings.ToLower(strings.TrimSpace(inv.cfg.StorageType))
	if cmd.offline {
		return c.fail(name, cmd.run(ctx, inv))
	}
	// A command reports the backend's errors as they are, and writes nothing of its own: no
	// breaker to turn a failure into a miss (a fallback needs one), no probe keys, no metrics.
	inv.cfg.DisableBreaker = inv.cfg.FallbackStorageType == ""
	inv.cfg.HealthCheckInterval, inv.cfg.Metrics, inv.cfg.Background = -1, "", false

	if inv.cache, err = c.open(inv.cfg); err != nil {
		return c.fail(name, err)
	}
	code := c.fail(name, cmd.run(ctx, inv))
	if err := inv.cache.Close(); err != nil && code == exitOK {
		code = c.fail(name, err)
	}
	return code
}

// flagShapes returns a FlagSet with every flag of every command, each accepting any value, so
// that parseArgs can tell flags and their values from positional arguments before the command,
// and so the flags that apply, are known.
func flagShapes() *flag.FlagSet {
	typed := flag.NewFlagSet("cachectl", flag.ContinueOnError)
	globalFlags(typed, new(cacheenv.Config), new(bool))
	for _, cmd := range commands {
		if cmd.flags == nil {
			continue
		}
		// Commands may share a flag (dashboard and alarms, --service), which a FlagSet
		// defines once.
		own := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		cmd.flags(own, new(options), new(cacheenv.Config))
		own.VisitAll(func(f *flag.Flag) {
			if typed.Lookup(f.Name) == nil {
				typed.Var(f.Value, f.Name, f.Usage)
			}
		})
	}
	shapes := flag.NewFlagSet("cachectl", flag.ContinueOnError)
	typed.VisitAll(func(f *flag.Flag) {
		b, ok := f.Value.(interface{ IsBoolFlag() bool })
		shapes.Var(anyValue{isBool: ok && b.IsBoolFlag()}, f.Name, f.Usage)
	})
	return shapes
}

// anyValue is a flag.Value that accepts anything, with the shape (bool or not) of another.
type anyValue struct{ isBool bool }

func (anyValue) String() string     { return "" }
func (anyValue) Set(string) error   { return nil }
func (v anyValue) IsBoolFlag() bool { return v.isBool }

// help runs "cachectl help [COMMAND]".
func (c *cli) help(cfg cacheenv.Config, args []string) int {
	switch len(args) {
	case 0:
		writeUsage(c.stdout, cfg)
		return exitOK
	case 1:
		if cmd := lookup(args[0]); cmd != nil {
			writeCommandUsage(c.stdout, cmd, cfg)
			return exitOK
		}
		return c.fail("help", usagef("unknown command %q", args[0]))
	}
	return c.fail("help", usagef("usage: cachectl help [COMMAND]"))
}

// fail reports err, if it is one to report, on stderr and returns the exit code it means.
func (c *cli) fail(cmd string, err error) int {
	code := exitCode(err)
	var status exitStatus
	if err == nil || errors.As(err, &status) {
		return code
	}
	where := "cachectl: "
	if cmd != "" {
		where += cmd + ": "
	}
	fmt.Fprintf(c.stderr, "%s%v\n", where, err)
	var usage *usageError
	if errors.As(err, &usage) {
		topic := "help"
		if cmd != "" {
			topic += " " + cmd
		}
		fmt.Fprintf(c.stderr, "Run 'cachectl %s' for usage.\n", topic)
	}
	return code
}

// exitStatus is an outcome that sets the exit code without being an error to report, such as
// "has" finding no entry: the command has already said so on stdout.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// exitCode maps an error to cachectl's exit code.
func exitCode(err error) int {
	var (
		status exitStatus
		usage  *usageError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &status):
		return int(status)
	case errors.As(err, &usage),
		errors.Is(err, cachekit.ErrConfig),
		errors.Is(err, cachekit.ErrInvalidKey),
		errors.Is(err, cachekit.ErrInvalidTTL),
		errors.Is(err, cachekit.ErrValueTooLarge),
		errors.Is(err, cachekit.ErrEncode),
		errors.Is(err, backend.ErrNotCounter):
		return exitUsage
	case errors.Is(err, cachekit.ErrNotFound):
		return exitMiss
	}
	return exitBackend
}

// withDefaults fills the Config fields whose zero means a library default with that default,
// so that help and output show the values in force.
func withDefaults(cfg cacheenv.Config) cacheenv.Config {
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = cachekit.DefaultPrefix
	}
	if cfg.DefaultTTL == 0 {
		cfg.DefaultTTL = cachekit.DefaultTTL
	}
	return cfg
}

// printJSON writes v to stdout as indented JSON.
func (inv *invocation) printJSON(v any) error {
	enc := json.NewEncoder(inv.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
