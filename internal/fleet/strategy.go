package fleet

import (
	"fmt"
	"strings"
	"time"

	"github.com/cachekit/cachekit"
)

// Strategy names the Freshness a run gives its views. Lease, SWR and XFetch are each one part
// of Freshness alone over Plain, so that a row shows what that part does by itself; All is the
// composition to use.
type Strategy string

// The strategies, as Run and cachectl bench --strategy name them.
const (
	Plain  Strategy = "plain"  // the zero Freshness: plain TTL caching
	Lease  Strategy = "lease"  // Freshness.Lease alone: one load per key across the fleet
	SWR    Strategy = "swr"    // Freshness.Grace alone: stale-while-revalidate
	XFetch Strategy = "xfetch" // Freshness.EarlyRefresh 1 alone: refresh before expiry
	All    Strategy = "all"    // cachekit.Recommended(ttl) with MissTTL: every part together
)

// Strategies returns every Strategy, in the order reports list them.
func Strategies() []Strategy { return []Strategy{Plain, Lease, SWR, XFetch, All} }

// ParseStrategy returns the Strategy named s, or an error that lists the names.
func ParseStrategy(s string) (Strategy, error) {
	for _, st := range Strategies() {
		if string(st) == s {
			return st, nil
		}
	}
	names := make([]string, 0, len(Strategies()))
	for _, st := range Strategies() {
		names = append(names, string(st))
	}
	return "", fmt.Errorf("fleet: unknown strategy %q: want one of %s", s, strings.Join(names, ", "))
}

// Freshness returns the Freshness the strategy gives a view whose values live ttl: the part
// of cachekit.Recommended(ttl) it names, or all of it with missTTL as MissTTL for All.
func (s Strategy) Freshness(ttl, missTTL time.Duration) cachekit.Freshness {
	r := cachekit.Recommended(ttl)
	switch s {
	case Lease:
		return cachekit.Freshness{Lease: r.Lease}
	case SWR:
		return cachekit.Freshness{Grace: r.Grace}
	case XFetch:
		return cachekit.Freshness{EarlyRefresh: r.EarlyRefresh}
	case All:
		r.MissTTL = missTTL
		return r
	}
	return cachekit.Freshness{}
}
