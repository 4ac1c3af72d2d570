package redisstore

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit/backend"
)

// ParseURL reads a connection URL into client options:
//
//	redis://[user:password@]host:port[/db][?addr=host2:port2&addr=…][&cluster=false]
//	rediss://…  TLS, as ElastiCache's in-transit encryption needs
//
// The user and password authenticate with AUTH or, with a user, an ACL user. Several addr
// parameters give more seed nodes. Cluster mode is detected from the server (CLUSTER SLOTS);
// cluster=false keeps to one node. max_flush_delay (a Go duration such as 20us; none by
// default) holds the client's writer back after each write while other calls are in flight,
// so that concurrent callers' commands share the next one: with many callers near the server
// it raises throughput and lowers the CPU per call, but with a few calls in flight it
// lengthens them, by up to a millisecond in a process with nothing else to run, where Go
// wakes a sleep shorter than that with its next event or after a millisecond (see
// docs/redis.md). A lone call is never held back. The
// rest of rueidis's parameters apply (dial_timeout, write_timeout, skip_verify, client_name).
// Errors never quote the URL, which may hold a password.
func ParseURL(raw string) (rueidis.ClientOption, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("redisstore: the Redis URL does not parse: %w", backend.ErrConfig)
	}
	opt, err := rueidis.ParseURL(raw)
	if err != nil {
		return opt, fmt.Errorf("redisstore: the Redis URL: %w", err)
	}
	if v := u.Query().Get("cluster"); v != "" {
		cluster, err := strconv.ParseBool(v)
		if err != nil {
			return opt, fmt.Errorf("redisstore: the Redis URL: cluster=%q: want true or false", v)
		}
		opt.ForceSingleClient = !cluster
	}
	if v := u.Query().Get("max_flush_delay"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Second {
			return opt, fmt.Errorf("redisstore: the Redis URL: max_flush_delay=%q: want a duration from 0 to 1s, such as 20us", v)
		}
		opt.MaxFlushDelay = d
	}
	// The cache reads the server, not a client-side copy that needs RESP3 tracking.
	opt.DisableCache = true
	// Besides refreshing on MOVED and connection errors, look at the topology every few
	// seconds, so that a failover is noticed within seconds even on quiet slots.
	opt.ClusterOption.ShardsRefreshInterval = 5 * time.Second
	return opt, nil
}
