package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/ratelimit"
)

const incrDetails = `Adds N (default 1; it may be negative) to the counter under KEY, in one request to the
backend, and prints the new count. With no unexpired entry under KEY the counter starts at 0
with the TTL --ttl (default: the configured default TTL); later increments keep that TTL, as
a fixed window's counter does, and a counter past it starts again from 0. get reads the count
as a JSON number.

An entry that is not a counter is left alone, and refused with exit 2: a JSON value other
than an integer, or on DynamoDB any value that set wrote, whatever its text (only what incr
created is a number there).`

const limitDetails = `Asks a rate limiter (package ratelimit) to admit one request under KEY, as a service's
ratelimit.Limiter with the same prefix would: the run is a request, and spends the quota
like one. Prints the verdict, the requests left now, how long until a denied request would be
admitted (retry-after) and until the key is back to its full quota (reset-after). Exit 0 when
the request is allowed, 1 when it is denied.

RATE is COUNT/PERIOD: 100/s, 10/m, 1000/h, or a Go duration for the period, as in 5/10s.
--algorithm picks how the limiter counts:
  gcra     (the default) a steady pace of COUNT per PERIOD, with bursts of up to --burst
           (default COUNT); one request to the backend, at the backend's clock on Redis
  fixed    COUNT in each window of one PERIOD; one request
  sliding  the fixed windows, the previous one's count weighted in; two requests

The state lives under the prefix followed by KEY: the TAT under gcra, and under the windows a
counter per window, KEY:INDEX where INDEX is the window's number since the Unix epoch. To
look at the keys a service limits, give --prefix its Limiter's prefix. On the memory backend
every run starts from a fresh limiter, and is allowed.`

// limitOptions are the flags of limit.
type limitOptions struct {
	burst     int
	algorithm string
}

func limitFlags(fs *flag.FlagSet, o *options, _ *cacheenv.Config) {
	o.limit = limitOptions{algorithm: "gcra"}
	fs.IntVar(&o.limit.burst, "burst", 0, "gcra: admit bursts of up to `N` requests (default: COUNT)")
	fs.StringVar(&o.limit.algorithm, "algorithm", o.limit.algorithm, "count by `A`: gcra, fixed or sliding")
}

// algorithms are the names --algorithm takes.
var algorithms = map[string]ratelimit.Algorithm{
	"gcra":    ratelimit.GCRA,
	"fixed":   ratelimit.FixedWindow,
	"sliding": ratelimit.SlidingWindow,
}

func runIncr(ctx context.Context, inv *invocation) error {
	key := inv.args[0]
	delta := int64(1)
	if len(inv.args) == 2 {
		n, err := strconv.ParseInt(inv.args[1], 10, 64)
		if err != nil {
			return usagef("invalid N %q: want an integer, such as 5 or -1", inv.args[1])
		}
		delta = n
	}
	full, err := inv.fullKey(key)
	if err != nil {
		return err
	}
	counter, ok := backend.Find[backend.Counter](inv.cache.Store())
	if !ok {
		return fmt.Errorf("the %s backend keeps no counters: %w", inv.cfg.Backend(), cachekit.ErrConfig)
	}
	count, err := counter.Incr(ctx, full, delta, inv.cfg.DefaultTTL)
	if errors.Is(err, backend.ErrNotCounter) {
		return fmt.Errorf("the entry under %q is not a counter, and is left as it is: %w", key, err)
	}
	if err != nil {
		return err
	}
	inv.noteMemory()
	if inv.json {
		return inv.printJSON(struct {
			Key   string `json:"key"`
			Count int64  `json:"count"`
		}{key, count})
	}
	_, err = fmt.Fprintln(inv.stdout, count)
	return err
}

func runLimit(ctx context.Context, inv *invocation) error {
	key, o := inv.args[0], inv.opts.limit
	limit, err := parseRate(inv.args[1])
	if err != nil {
		return err
	}
	algorithm, ok := algorithms[o.algorithm]
	if !ok {
		return usagef("--algorithm %q: want gcra, fixed or sliding", o.algorithm)
	}
	if inv.given["burst"] {
		if algorithm != ratelimit.GCRA {
			return usagef("--burst is gcra's: the windows admit COUNT in each window")
		}
		if o.burst < 1 {
			return usagef("--burst %d: want at least 1", o.burst)
		}
		limit.Burst = o.burst
	}
	limiter, err := ratelimit.New(inv.cache.Store(), inv.cache.Prefix(), ratelimit.Options{Algorithm: algorithm, Clock: inv.clock})
	if err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			err = fmt.Errorf("%w: %w", err, cachekit.ErrConfig)
		}
		return err
	}
	res, err := limiter.Allow(ctx, key, limit)
	if err != nil {
		return err
	}
	inv.noteMemory()
	if inv.json {
		err = inv.printJSON(struct {
			Key               string  `json:"key"`
			Allowed           bool    `json:"allowed"`
			Remaining         int     `json:"remaining"`
			RetryAfterSeconds float64 `json:"retry_after_seconds"`
			ResetAfterSeconds float64 `json:"reset_after_seconds"`
			Algorithm         string  `json:"algorithm"`
			Rate              int     `json:"rate"`
			PeriodSeconds     float64 `json:"period_seconds"`
			Quota             int     `json:"quota"`
		}{key, res.Allowed, res.Remaining, res.RetryAfter.Seconds(), res.ResetAfter.Seconds(),
			algorithm.String(), limit.Rate, limit.Period.Seconds(), limiter.Quota(limit)})
	} else {
		verdict := "allowed"
		if !res.Allowed {
			verdict = "denied"
		}
		tw := tabwriter.NewWriter(inv.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\n", verdict)
		fmt.Fprintf(tw, "remaining\t%d\n", res.Remaining)
		fmt.Fprintf(tw, "retry-after\t%v\n", ceilMillisecond(res.RetryAfter))
		fmt.Fprintf(tw, "reset-after\t%v\n", ceilMillisecond(res.ResetAfter))
		fmt.Fprintf(tw, "limit\t%d per %v, %s, quota %d\n", limit.Rate, limit.Period, algorithm, limiter.Quota(limit))
		err = tw.Flush()
	}
	if err == nil && !res.Allowed {
		return exitStatus(exitMiss)
	}
	return err
}

// parseRate reads RATE, COUNT/PERIOD, as a Limit whose Burst is left to its default.
func parseRate(s string) (ratelimit.Limit, error) {
	bad := func(why string) error {
		return usagef("invalid RATE %q: %s; want COUNT/PERIOD, such as 100/s, 10/m, 1000/h or 5/10s", s, why)
	}
	count, per, ok := strings.Cut(s, "/")
	if !ok {
		return ratelimit.Limit{}, bad("no /")
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		return ratelimit.Limit{}, bad("the count is not a positive integer")
	}
	var period time.Duration
	switch per {
	case "s":
		period = time.Second
	case "m":
		period = time.Minute
	case "h":
		period = time.Hour
	default:
		if period, err = time.ParseDuration(per); err != nil || period <= 0 {
			return ratelimit.Limit{}, bad("the period is not s, m, h or a positive duration")
		}
	}
	return ratelimit.Limit{Rate: n, Period: period}, nil
}

// ceilMillisecond rounds d up to the millisecond, so that a wait printed is never too short.
func ceilMillisecond(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// fullKey applies the Cache's prefix, and the key rules, to a key the command writes to
// through the Store rather than the Cache.
func (inv *invocation) fullKey(key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("%w: empty key", cachekit.ErrInvalidKey)
	}
	full := inv.cache.Prefix() + key
	return full, backend.CheckKey(full)
}

// noteMemory tells, on a command that wrote, that the memory backend keeps nothing past the run.
func (inv *invocation) noteMemory() {
	if inv.cfg.Backend() == cacheenv.StorageMemory {
		fmt.Fprintln(inv.stderr, "cachectl: note: the memory backend lives in this process only; the entry is gone when it exits")
	}
}
