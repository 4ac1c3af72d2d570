package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"text/tabwriter"
	"time"

	"github.com/cachekit/cachekit"
)

// probeTTL bounds how long a probe key outlives a probe whose delete failed.
const probeTTL = 30 * time.Second

// probeStep is one timed step of a health probe.
type probeStep struct {
	Step      string `json:"step"`
	LatencyNS int64  `json:"latency_ns"`
	Error     string `json:"error,omitempty"`
}

// healthReport is the outcome of a health probe, as "health --json" prints it.
type healthReport struct {
	Status  string      `json:"status"` // "healthy" or "unhealthy"
	Backend string      `json:"backend"`
	Key     string      `json:"key"` // the probe key, prefix included
	Steps   []probeStep `json:"steps"`
	TotalNS int64       `json:"total_ns"`
}

func runHealth(ctx context.Context, inv *invocation) error {
	ctx, cancel := context.WithTimeout(ctx, inv.opts.healthTimeout)
	defer cancel()
	rep := probe(ctx, cachekit.Typed[json.RawMessage](inv.cache, "", 0))
	rep.Backend = inv.cfg.Backend()

	var err error
	if inv.json {
		err = inv.printJSON(rep)
	} else {
		tw := tabwriter.NewWriter(inv.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "status\t%s\n", rep.Status)
		fmt.Fprintf(tw, "backend\t%s\n", rep.Backend)
		fmt.Fprintf(tw, "key\t%s\n", rep.Key)
		for _, s := range rep.Steps {
			fmt.Fprintf(tw, "%s\t%v", s.Step, time.Duration(s.LatencyNS))
			if s.Error != "" {
				fmt.Fprintf(tw, "\tfailed: %s", s.Error)
			}
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "total\t%v\n", time.Duration(rep.TotalNS))
		err = tw.Flush()
	}
	if err == nil && rep.Status != "healthy" {
		return exitStatus(exitMiss)
	}
	return err
}

// probe writes a key that no one else uses, reads it back, compares and deletes it, timing
// each step. The delete runs even when an earlier step failed, to leave nothing behind.
func probe(ctx context.Context, v *cachekit.View[json.RawMessage]) healthReport {
	token := fmt.Sprintf("%016x", rand.Uint64())
	key := "cachectl:health:" + token
	want := json.RawMessage(fmt.Sprintf(`{"probe":%q,"at":%d}`, token, time.Now().Unix()))
	rep := healthReport{Status: "healthy", Key: v.Prefix() + key}

	step := func(name string, f func() error) bool {
		start := time.Now()
		err := f()
		s := probeStep{Step: name, LatencyNS: int64(time.Since(start))}
		if err != nil {
			s.Error = err.Error()
			rep.Status = "unhealthy"
		}
		rep.Steps = append(rep.Steps, s)
		rep.TotalNS += s.LatencyNS
		return err == nil
	}
	if step("set", func() error { return v.Set(ctx, key, want, probeTTL) }) {
		step("get", func() error {
			got, err := v.Get(ctx, key)
			switch {
			case errors.Is(err, cachekit.ErrNotFound):
				return errors.New("the probe key was not found right after it was set")
			case err != nil:
				return err
			case !bytes.Equal(got, want):
				return errors.New("read back a different value than was written")
			}
			return nil
		})
	}
	step("delete", func() error { return v.Delete(ctx, key) })
	return rep
}
