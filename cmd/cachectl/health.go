package main

import (
	"context"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/monitor"
)

// healthReport is the outcome of a health check, as "health --json" prints it.
type healthReport struct {
	Backend string `json:"backend"`
	cachekit.HealthResult
}

func runHealth(ctx context.Context, inv *invocation) error {
	ctx, cancel := context.WithTimeout(ctx, inv.opts.healthTimeout)
	defer cancel()
	checker := monitor.NewChecker(monitor.Options{
		Prefix: inv.cache.Prefix() + "cachectl:health:",
		Logger: slog.New(slog.DiscardHandler), // the report says it all
	})
	rep := healthReport{Backend: inv.cfg.Backend(), HealthResult: checker.Check(ctx, inv.cache.Store())}

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
	if err == nil && rep.Status == cachekit.Unhealthy {
		return exitStatus(exitMiss)
	}
	return err
}
