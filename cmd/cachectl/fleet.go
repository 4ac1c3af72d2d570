package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/internal/fleet"
	"github.com/cachekit/cachekit/tiered"
)

// runFleet runs bench in fleet mode (--instances over 1): a simulated fleet on the backend the
// configuration names, as package fleet runs it.
func runFleet(ctx context.Context, inv *invocation) error {
	o := inv.opts.bench
	cfg := inv.cfg
	if cfg.Backend() == cacheenv.StorageMemory {
		return usagef("--instances %d: a fleet needs a backend its instances share, and the memory backend lives inside each; "+
			"name Redis (--redis, $CACHE_REDIS_URL) or DynamoDB (--table, $CACHE_TABLE_NAME)", o.instances)
	}
	strategy, err := fleet.ParseStrategy(o.strategy)
	if err != nil {
		return usagef("--strategy %q: want plain, lease, swr, xfetch or all", o.strategy)
	}
	// Every instance opens its own client of the backend; the fleet puts an L1 of its own in
	// front of each, sized as the configuration sizes one.
	own := cfg
	own.L1MaxSize, own.L1TTL = 0, 0
	prefix := cfg.KeyPrefix + benchPrefix + "fleet-" + runID() + ":"
	fo := fleet.Options{
		Open:          func(context.Context, int) (backend.Store, error) { return cacheenv.OpenStore(own) },
		Prefix:        prefix,
		Strategy:      strategy,
		Instances:     o.instances,
		Duration:      o.duration,
		SourceLatency: o.sourceLatency,
		HotTTL:        o.hotTTL,
		TTL:           cfg.DefaultTTL,
		L1:            tiered.Options{MaxSize: cfg.L1MaxSize, MaxTTL: cfg.L1TTL},
	}
	// Left alone, these flags keep the fleet's defaults rather than the single instance's.
	if inv.given["keys"] {
		fo.Keys = o.keys
	}
	if inv.given["zipf"] {
		fo.Zipf = o.zipf
	}
	if inv.given["concurrency"] {
		fo.Readers = o.concurrency
	}
	rep, err := fleet.Run(ctx, fo)
	if err != nil {
		return err
	}
	rep.Backend = cfg.Backend()
	if inv.json {
		err = inv.printJSON(rep)
	} else if err = rep.Write(inv.stdout); err == nil {
		_, err = fmt.Fprintf(inv.stdout, "\nbench keys are under %q; remove them with: cachectl clear --prefix '%s' --yes\n", prefix, prefix)
	}
	if err != nil {
		return err
	}
	if rep.Errors > 0 {
		fmt.Fprintf(inv.stderr, "cachectl: bench: %d reads failed; the first: %s\n", rep.Errors, rep.FirstError)
		if rep.Errors >= rep.All.Reads {
			return errors.New("every read failed")
		}
	}
	if rep.Wrong > 0 {
		return fmt.Errorf("%d reads were served another key's value, or one for a key the source lacks", rep.Wrong)
	}
	return nil
}

// runID returns 8 hex digits for the prefix of one fleet run, so that no run finds another's keys.
func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
