package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cacheenv"
)

// command is one cachectl command.
type command struct {
	name     string
	synopsis string // the arguments after the name, as help shows them
	summary  string // one line for the command list
	details  string // more, for "cachectl help NAME"
	minArgs  int
	maxArgs  int // -1: any number
	// flags defines the command's own flags on fs, bound to o or to cfg, with their defaults.
	flags func(fs *flag.FlagSet, o *options, cfg *cacheenv.Config)
	run   func(ctx context.Context, inv *invocation) error
	// offline says that the command reads no backend: run gets no Cache.
	offline bool
}

// options holds the values of the commands' own flags.
type options struct {
	yes           bool          // clear
	healthTimeout time.Duration // health
	bench         benchOptions
	limit         limitOptions
	cloudwatch    cloudwatchOptions // dashboard, alarms
}

// globalFlags defines the flags every command takes on fs, bound to cfg, whose fields hold the
// environment's values as defaults, and to jsonOut. Each backend's settings are bound to its
// Config field.
func globalFlags(fs *flag.FlagSet, cfg *cacheenv.Config, jsonOut *bool) {
	fs.StringVar(&cfg.StorageType, "backend", cfg.StorageType,
		"the backend `NAME`: memory, dynamodb or redis; from $CACHE_STORAGE_TYPE")
	fs.StringVar(&cfg.KeyPrefix, "prefix", cfg.KeyPrefix,
		"the key `PREFIX` put before every key; from $CACHE_KEY_PREFIX")
	fs.Var(ttlValue{&cfg.DefaultTTL}, "ttl",
		"the TTL `D` of writes: a duration (90s, 24h) or seconds; from $CACHE_DEFAULT_TTL")
	fs.BoolVar(jsonOut, "json", false, "print machine-readable JSON")
	fs.StringVar(&cfg.TableName, "table", cfg.TableName,
		"dynamodb: the table `NAME`; selects the dynamodb backend when --backend is not given; from $CACHE_TABLE_NAME")
	fs.StringVar(&cfg.DynamoDBEndpoint, "endpoint", cfg.DynamoDBEndpoint,
		"dynamodb: send requests to `URL`, such as DynamoDB Local's http://127.0.0.1:8000; from $CACHE_DYNAMODB_ENDPOINT")
	fs.Var(redactedURL{&cfg.RedisURL}, "redis",
		"redis: the server or cluster `URL`, redis://[user:password@]host:port[/db] or rediss:// for TLS; from $CACHE_REDIS_URL")
}

// redactedURL is a flag.Value for a URL that may hold a password, which help never shows.
type redactedURL struct{ s *string }

func (v redactedURL) String() string {
	if v.s == nil || *v.s == "" {
		return ""
	}
	if u, err := url.Parse(*v.s); err == nil {
		return u.Redacted()
	}
	return "(set)"
}

func (v redactedURL) Set(s string) error {
	*v.s = s
	return nil
}

// commands are cachectl's commands, in the order help lists them.
var commands = []*command{
	{
		name: "get", synopsis: "KEY", minArgs: 1, maxArgs: 1,
		summary: "print the JSON value stored under KEY",
		details: "Prints the stored JSON as it is, with or without --json. Exit 1 on a miss.",
		run:     runGet,
	},
	{
		name: "set", synopsis: "KEY JSON|@FILE|@- [--ttl D]", minArgs: 2, maxArgs: 2,
		summary: "store the JSON value under KEY, for --ttl",
		details: "JSON must be a valid JSON text, such as '{\"a\":1}', '\"text\"' or 42; it is stored compacted.\n" +
			"As with curl, @FILE reads the value from FILE and @- from standard input: for values over\n" +
			"the 128 KiB an argument may have on Linux, as in \"cachectl set KEY @geo.json\" or\n" +
			"\"... | cachectl set KEY @-\".",
		run: runSet,
	},
	{
		name: "del", synopsis: "KEY...", minArgs: 1, maxArgs: -1,
		summary: "delete the entries under the keys; missing keys are not an error",
		run:     runDel,
	},
	{
		name: "has", synopsis: "KEY", minArgs: 1, maxArgs: 1,
		summary: "print whether KEY has an unexpired entry (exit 1 when not)",
		run:     runHas,
	},
	{
		name: "ttl", synopsis: "KEY", minArgs: 1, maxArgs: 1,
		summary: "print the time KEY's entry has left",
		details: "Exit 1 when there is no entry.",
		run:     runTTL,
	},
	{
		name: "expire", synopsis: "KEY D", minArgs: 2, maxArgs: 2,
		summary: "give KEY's existing entry a new TTL D, counted from now",
		details: "D is a duration such as 90s or 24h, or a whole number of seconds. Exit 1, creating nothing, when there is no entry.",
		run:     runExpire,
	},
	{
		name: "mget", synopsis: "KEY...", minArgs: 1, maxArgs: -1,
		summary: "print the values of several keys",
		details: "Prints \"KEY<tab>JSON\" for each key found, in the order given, or with --json\n" +
			"{\"values\": {KEY: JSON...}, \"missing\": [KEY...]}. Exit 1 when any key is missing.",
		run: runMget,
	},
	{
		name: "incr", synopsis: "KEY [N] [--ttl D]", minArgs: 1, maxArgs: 2,
		summary: "add N (default 1) to the counter under KEY and print the new count",
		details: incrDetails,
		run:     runIncr,
	},
	{
		name: "limit", synopsis: "KEY RATE [--algorithm A]", minArgs: 2, maxArgs: 2,
		summary: "let the rate limiter admit or deny one request under KEY at RATE (100/s)",
		details: limitDetails,
		flags:   limitFlags,
		run:     runLimit,
	},
	{
		name: "stats", minArgs: 0, maxArgs: 0,
		summary: "print the number of entries under the prefix, and this process's counters",
		run:     runStats,
	},
	{
		name: "clear", synopsis: "--yes", minArgs: 0, maxArgs: 0,
		summary: "delete every entry under the prefix, and nothing else",
		details: "Refuses (exit 2) without --yes. On a remote backend it scans every key under the prefix.",
		flags: func(fs *flag.FlagSet, o *options, _ *cacheenv.Config) {
			fs.BoolVar(&o.yes, "yes", false, "confirm that every entry under the prefix may go")
		},
		run: runClear,
	},
	{
		name: "health", minArgs: 0, maxArgs: 0,
		summary: "probe the backend: write, read back, compare and delete a key, timing each step",
		details: "The probe key lives under the prefix with a 30s TTL, so a failed delete leaves nothing for long.\n" +
			"Exit 0 when healthy, 1 when not.",
		flags: func(fs *flag.FlagSet, o *options, _ *cacheenv.Config) {
			o.healthTimeout = 5 * time.Second
			fs.Var(positiveDuration{&o.healthTimeout}, "timeout", "give up on the probe after `D`")
		},
		run: runHealth,
	},
	{
		name: "bench", minArgs: 0, maxArgs: 0,
		summary: "run a cache-aside workload and report throughput, latency and hit ratio",
		details: benchDetails,
		flags:   benchFlags,
		run:     runBench,
	},
	{
		name: "table", synopsis: "create", minArgs: 1, maxArgs: 1,
		summary: "dynamodb: create the cache's table if missing and turn on its TTL",
		details: "Creates the --table on demand (pay per request) with the configured key schema, waits\n" +
			"until it is active and turns on DynamoDB's TTL for the ttl attribute. On a ready table it\n" +
			"changes nothing; on a table with another key schema it fails.",
		run: runTable,
	},
	{
		name: "dashboard", synopsis: "--service NAME", minArgs: 0, maxArgs: 0,
		summary: "print a CloudWatch dashboard body of the service's cache metrics (emf)",
		details: dashboardDetails,
		flags:   dashboardFlags,
		run:     runDashboard,
		offline: true,
	},
	{
		name: "alarms", synopsis: "--service NAME", minArgs: 0, maxArgs: 0,
		summary: "print CloudWatch alarms on the service's cache metrics: hit ratio, breaker, health, p99",
		details: alarmsDetails,
		flags:   alarmsFlags,
		run:     runAlarms,
		offline: true,
	},
}

// lookup returns the command called name, or nil.
func lookup(name string) *command {
	for _, cmd := range commands {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
}

// view returns the Cache seen as raw JSON, so that values pass through as the user wrote them.
func (inv *invocation) view() *cachekit.View[json.RawMessage] {
	return cachekit.Typed[json.RawMessage](inv.cache, "", 0)
}

func runGet(ctx context.Context, inv *invocation) error {
	v, err := inv.view().Get(ctx, inv.args[0])
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(inv.stdout, "%s\n", v)
	return err
}

func runSet(ctx context.Context, inv *invocation) error {
	key := inv.args[0]
	raw, err := inv.readValue(inv.args[1])
	if err != nil {
		return err
	}
	value := json.RawMessage(raw)
	if !json.Valid(value) {
		// The value is the user's data: the message does not repeat it.
		if from, ok := strings.CutPrefix(inv.args[1], "@"); ok {
			if from == "-" {
				from = "standard input"
			}
			return usagef("the value read from %s is not valid JSON", from)
		}
		return usagef("the value is not valid JSON; quote it for the shell, as in '{\"a\":1}' or '\"text\"'")
	}
	if err := inv.view().Set(ctx, key, value, 0); err != nil {
		return err
	}
	inv.noteMemory()
	if inv.json {
		return inv.printJSON(struct {
			OK         bool    `json:"ok"`
			Key        string  `json:"key"`
			TTLSeconds float64 `json:"ttl_seconds"`
		}{true, key, inv.cfg.DefaultTTL.Seconds()})
	}
	return nil
}

func runDel(ctx context.Context, inv *invocation) error {
	if err := inv.view().DeleteMany(ctx, inv.args...); err != nil {
		return err
	}
	if inv.json {
		return inv.printJSON(struct {
			OK   bool     `json:"ok"`
			Keys []string `json:"keys"`
		}{true, inv.args})
	}
	return nil
}

func runHas(ctx context.Context, inv *invocation) error {
	ok, err := inv.view().Has(ctx, inv.args[0])
	if err != nil {
		return err
	}
	if inv.json {
		err = inv.printJSON(struct {
			Key     string `json:"key"`
			Present bool   `json:"present"`
		}{inv.args[0], ok})
	} else {
		_, err = fmt.Fprintln(inv.stdout, ok)
	}
	if err == nil && !ok {
		return exitStatus(exitMiss)
	}
	return err
}

func runTTL(ctx context.Context, inv *invocation) error {
	d, err := inv.view().TTL(ctx, inv.args[0])
	if err != nil {
		return err
	}
	if inv.json {
		return inv.printJSON(struct {
			Key        string  `json:"key"`
			TTLSeconds float64 `json:"ttl_seconds"`
		}{inv.args[0], d.Seconds()})
	}
	_, err = fmt.Fprintln(inv.stdout, roundTTL(d))
	return err
}

// roundTTL rounds a remaining time for people: to the second, or to the millisecond under one.
func roundTTL(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

func runExpire(ctx context.Context, inv *invocation) error {
	key := inv.args[0]
	d, err := parseTTL(inv.args[1])
	if err != nil {
		return usagef("invalid TTL %q: %v", inv.args[1], err)
	}
	if err := inv.view().Expire(ctx, key, d); err != nil {
		return err
	}
	if inv.json {
		return inv.printJSON(struct {
			OK         bool    `json:"ok"`
			Key        string  `json:"key"`
			TTLSeconds float64 `json:"ttl_seconds"`
		}{true, key, d.Seconds()})
	}
	return nil
}

func runMget(ctx context.Context, inv *invocation) error {
	found, err := inv.view().GetMany(ctx, inv.args)
	if err != nil {
		return err
	}
	var keys, missing []string
	for _, k := range inv.args {
		if slices.Contains(keys, k) || slices.Contains(missing, k) {
			continue
		}
		if _, ok := found[k]; ok {
			keys = append(keys, k)
		} else {
			missing = append(missing, k)
		}
	}
	if inv.json {
		err = inv.printJSON(struct {
			Values  map[string]json.RawMessage `json:"values"`
			Missing []string                   `json:"missing"`
		}{found, append([]string{}, missing...)})
	} else {
		for _, k := range keys {
			if _, err = fmt.Fprintf(inv.stdout, "%s\t%s\n", k, found[k]); err != nil {
				break
			}
		}
	}
	if err == nil && len(missing) > 0 {
		return fmt.Errorf("%w: %s", cachekit.ErrNotFound, strings.Join(missing, ", "))
	}
	return err
}

func runStats(ctx context.Context, inv *invocation) error {
	st, err := inv.cache.Stats(ctx)
	if err != nil {
		return err
	}
	if inv.json {
		return inv.printJSON(struct {
			Backend string `json:"backend"`
			Prefix  string `json:"prefix"`
			statsJSON
		}{inv.cfg.Backend(), inv.cfg.KeyPrefix, newStatsJSON(st)})
	}
	tw := tabwriter.NewWriter(inv.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "backend\t%s\n", inv.cfg.Backend())
	fmt.Fprintf(tw, "prefix\t%s\n", inv.cfg.KeyPrefix)
	fmt.Fprintf(tw, "keys\t%d\n", st.Keys)
	fmt.Fprintf(tw, "hits\t%d\t(this process)\n", st.Hits)
	fmt.Fprintf(tw, "misses\t%d\t(this process)\n", st.Misses)
	fmt.Fprintf(tw, "sets\t%d\t(this process)\n", st.Sets)
	fmt.Fprintf(tw, "deletes\t%d\t(this process)\n", st.Deletes)
	fmt.Fprintf(tw, "errors\t%d\t(this process)\n", st.Errors)
	return tw.Flush()
}

// statsJSON is cachekit.Stats as cachectl prints it.
type statsJSON struct {
	Keys       int     `json:"keys"`
	Hits       uint64  `json:"hits"`
	Misses     uint64  `json:"misses"`
	Sets       uint64  `json:"sets"`
	Deletes    uint64  `json:"deletes"`
	Errors     uint64  `json:"errors"`
	Loads      uint64  `json:"loads"`
	LoadErrors uint64  `json:"load_errors"`
	HitRatio   float64 `json:"hit_ratio"`
}

func newStatsJSON(st cachekit.Stats) statsJSON {
	return statsJSON{
		Keys: st.Keys, Hits: st.Hits, Misses: st.Misses, Sets: st.Sets, Deletes: st.Deletes,
		Errors: st.Errors, Loads: st.Loads, LoadErrors: st.LoadErrors, HitRatio: st.HitRatio,
	}
}

func runClear(ctx context.Context, inv *invocation) error {
	if !inv.opts.yes {
		return usagef("clear deletes every entry under the prefix %q; add --yes to go ahead", inv.cfg.KeyPrefix)
	}
	n, err := inv.cache.Clear(ctx)
	if err != nil {
		if n > 0 {
			err = fmt.Errorf("removed %d entries, then: %w", n, err)
		}
		return err
	}
	if inv.json {
		return inv.printJSON(struct {
			Removed int    `json:"removed"`
			Prefix  string `json:"prefix"`
		}{n, inv.cfg.KeyPrefix})
	}
	_, err = fmt.Fprintf(inv.stdout, "removed %d entries under %q\n", n, inv.cfg.KeyPrefix)
	return err
}
