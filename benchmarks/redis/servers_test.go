package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	gocache "github.com/eko/gocache/lib/v4/cache"
	gocachestore "github.com/eko/gocache/lib/v4/store"
	gocacheredis "github.com/eko/gocache/store/redis/v4"
	rediscache "github.com/go-redis/cache/v9"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
)

const (
	// value is what every key holds: 64 bytes that JSON and msgpack leave nearly as they are.
	value   = "lat=52.520008;lon=13.404954;city=Berlin;country=DE;ts=1700000000"
	ttl     = time.Hour
	numKeys = 1000
	batch   = 100 // keys in one MGET or GetMany
)

// run is the prefix of every key this process writes, so that runs and other tests on the same
// servers never meet.
var run = testenv.Name("cachekit-bench")

// flushDelays are the client settings the cache benchmarks compare cachekit and rueidis at:
// rueidis's MaxFlushDelay, redisstore's max_flush_delay. The -flush flag sets them.
var flushDelays = delays{0, 10 * time.Microsecond, 20 * time.Microsecond, 50 * time.Microsecond}

func init() {
	flag.Var(&flushDelays, "flush", "the `delays`, such as 0,20us, at which the cache benchmarks run rueidis's writer (MaxFlushDelay)")
}

// delays is a flag.Value: durations separated by commas.
type delays []time.Duration

func (d *delays) String() string {
	names := make([]string, len(*d))
	for i, v := range *d {
		names[i] = delayName(v)
	}
	return strings.Join(names, ",")
}

func (d *delays) Set(s string) error {
	*d = nil
	for f := range strings.SplitSeq(s, ",") {
		v, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || v < 0 {
			return fmt.Errorf("%q: want a duration such as 20us", f)
		}
		*d = append(*d, v)
	}
	return nil
}

// delayName writes a delay as the benchmarks' names have it: 0, 10us.
func delayName(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return strings.ReplaceAll(d.String(), "µ", "u")
}

func TestMain(m *testing.M) {
	code := m.Run()
	cancelCalls()
	if err := closeServers(); err != nil {
		fmt.Fprintln(os.Stderr, "cleaning up:", err)
		code = 1
	}
	os.Exit(code)
}

// server is one Redis deployment with a client of each library connected to it, and the keys
// each library wrote there.
type server struct {
	name    string
	cluster bool

	// settings has a rueidis client for each of flushDelays, in order, and cachekit over it;
	// def is the one with rueidis's default, no delay, which the client benchmarks use.
	settings []*client
	def      *client

	goredis     goredis.UniversalClient
	goredisWire *wire
	gocache     *gocache.Cache[string]
	rediscache  *rediscache.Cache

	keys    map[string][]string // by library (raw, cachekit, redisstore, gocache, go-redis-cache), as it is called with them
	written []string            // every key stored, for the cleanup
}

// client is a rueidis client with one MaxFlushDelay, counted by a wire of its own, and
// cachekit over it: a Typed[string] view of a Cache on redisstore.
type client struct {
	delay   time.Duration
	rueidis rueidis.Client
	wire    *wire
	store   *redisstore.Store
	cache   *cachekit.Cache
	view    *cachekit.View[string]
}

var (
	serversMu sync.Mutex
	servers   = map[string]*server{}
	failures  = map[string]error{}
)

// proxied names the standalone server reached through toxiproxy, which delays each of its
// answers by proxyLatency: a network's round trip, where loopback has next to none.
const (
	proxied      = "standalone+1ms"
	proxyLatency = time.Millisecond
)

// connect returns the server name ("standalone", "cluster" or proxied), connected and holding
// numKeys keys for each library, or skips b when it does not answer.
func connect(b *testing.B, name string) *server {
	b.Helper()
	if name == proxied {
		return connectProxied(b)
	}
	serversMu.Lock()
	defer serversMu.Unlock()
	if s := servers[name]; s != nil {
		return s
	}
	at := testenv.RedisURL()
	if name == "cluster" {
		at = testenv.RedisClusterURL()
	}
	if err := failures[name]; err != nil {
		testenv.Missing(b, "Redis at "+at, err)
	}
	s, err := dial(name, at)
	if err == nil {
		if err = s.fill(context.Background()); err == nil {
			err = s.warm()
		}
		if err != nil {
			s.close()
		}
	}
	if err != nil {
		failures[name] = err
		testenv.Missing(b, "Redis at "+at, err)
	}
	servers[name] = s
	return s
}

// connectProxied returns clients of the standalone server through a proxy that delays its
// answers by proxyLatency, reading the keys written there. They and the proxy last as long as b.
func connectProxied(b *testing.B) *server {
	base := connect(b, "standalone")
	u, err := url.Parse(testenv.RedisURL())
	if err != nil {
		b.Fatal(err)
	}
	proxy := testenv.Toxiproxy(b).NewProxy(b, "cachekit-bench", u.Host)
	proxy.Latency(b, proxyLatency)
	u.Host = proxy.Addr()
	s, err := dial(proxied, u.String())
	if err != nil {
		b.Fatalf("Redis through toxiproxy at %s: %v", proxy.Addr(), err)
	}
	b.Cleanup(s.close) // before the proxy goes
	s.keys = base.keys
	if err := s.warm(); err != nil {
		b.Fatal(err)
	}
	return s
}

// dial connects the rueidis clients, with the options redisstore.Open gives them (no
// client-side cache) but for the delay each has, and a go-redis client with its defaults,
// each counted by a wire; and the caches over them.
func dial(name, at string) (*server, error) {
	opt, err := redisstore.ParseURL(at)
	if err != nil {
		return nil, err
	}
	opt.Dialer.Timeout = 2 * time.Second
	s := &server{name: name, cluster: name == "cluster", goredisWire: &wire{}, keys: map[string][]string{}}
	if s.def, err = newClient(opt, 0); err != nil {
		return nil, err
	}
	if s.cluster && s.def.rueidis.Mode() != rueidis.ClientModeCluster {
		s.close()
		return nil, fmt.Errorf("%s is not a cluster", at)
	}
	for _, d := range flushDelays {
		c := s.def
		if d != 0 {
			if c, err = newClient(opt, d); err != nil {
				s.close()
				return nil, err
			}
		}
		s.settings = append(s.settings, c)
	}

	goredisDial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return s.goredisWire.wrap(c), nil
	}
	if s.cluster {
		s.goredis = goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs: opt.InitAddress, Username: opt.Username, Password: opt.Password, Dialer: goredisDial,
		})
	} else {
		s.goredis = goredis.NewClient(&goredis.Options{
			Addr: opt.InitAddress[0], Username: opt.Username, Password: opt.Password, DB: opt.SelectDB, Dialer: goredisDial,
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.goredis.Ping(ctx).Err(); err != nil {
		s.close()
		return nil, err
	}
	s.gocache = gocache.New[string](gocacheredis.NewRedis(s.goredis, gocachestore.WithExpiration(ttl)))
	s.rediscache = rediscache.New(&rediscache.Options{Redis: s.goredis})
	return s, nil
}

// newClient connects a rueidis client with opt and MaxFlushDelay d, counted by a wire of its
// own, and puts cachekit over it.
func newClient(opt rueidis.ClientOption, d time.Duration) (*client, error) {
	c := &client{delay: d, wire: &wire{}}
	opt.MaxFlushDelay = d
	opt.DialCtxFn = func(ctx context.Context, addr string, dialer *net.Dialer, tc *tls.Config) (net.Conn, error) {
		if tc != nil {
			return nil, errors.New("the benchmarks count bytes on plain connections: use redis://, not rediss://")
		}
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return c.wire.wrap(conn), nil
	}
	var err error
	if c.rueidis, err = rueidis.NewClient(opt); err != nil {
		return nil, err
	}
	if c.store, err = redisstore.New(c.rueidis, redisstore.Options{}); err == nil {
		c.cache, err = cachekit.New(c.store, cachekit.Options{Prefix: run + "/cachekit/"})
	}
	if err != nil {
		c.close()
		return nil, err
	}
	c.view = cachekit.Typed[string](c.cache, "", ttl)
	return c, nil
}

func (c *client) close() {
	if c.cache != nil {
		_ = c.cache.Close() // closes the store, not the rueidis client passed to it
	}
	c.rueidis.Close()
}

// fill writes numKeys keys for each library, each through the library's own Set so that each
// finds its own encoding: the raw clients share one set of plain values.
func (s *server) fill(ctx context.Context) error {
	for _, impl := range []string{"raw", "cachekit", "gocache", "go-redis-cache"} {
		for i := range numKeys {
			full := fmt.Sprintf("%s/%s/k%04d", run, impl, i)
			key := full
			if impl == "cachekit" {
				key = full[len(s.def.cache.Prefix()):]
				s.keys["redisstore"] = append(s.keys["redisstore"], full) // what cachekit asks redisstore for
			}
			s.keys[impl] = append(s.keys[impl], key)
			s.written = append(s.written, full)
		}
	}
	r := s.def.rueidis
	cmds := make(rueidis.Commands, 0, numKeys)
	for _, k := range s.keys["raw"] {
		cmds = append(cmds, r.B().Set().Key(k).Value(value).PxMilliseconds(ttl.Milliseconds()).Build())
	}
	for _, r := range r.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	writers := map[string]func(ctx context.Context, key string) error{
		"cachekit": func(ctx context.Context, key string) error { return s.def.view.Set(ctx, key, value, 0) },
		"gocache":  func(ctx context.Context, key string) error { return s.gocache.Set(ctx, key, value) },
		"go-redis-cache": func(ctx context.Context, key string) error {
			return s.rediscache.Set(&rediscache.Item{Ctx: ctx, Key: key, Value: value, TTL: ttl})
		},
	}
	for name, set := range writers {
		for _, k := range s.keys[name] {
			if err := set(ctx, k); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return nil
}

// warm reads every cachekit key through each rueidis client, from many callers at once, so that
// each has its connection to every node and runs its pipeline's goroutines before the first
// benchmark: none of them then pays for its start in the first impl it runs.
func (s *server) warm() error {
	var wg sync.WaitGroup
	errs := make(chan error, callersToWarm*len(s.settings))
	for _, c := range s.settings {
		for i := range callersToWarm {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := i; j < numKeys; j += callersToWarm {
					if _, err := c.view.Get(callCtx, s.keys["cachekit"][j]); err != nil {
						errs <- fmt.Errorf("warming up: %w", err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// callersToWarm is how many callers warm reads with on each client.
const callersToWarm = 16

// group names a client's setting in the benchmarks' names: flush=20us.
func (c *client) group() string { return "flush=" + delayName(c.delay) }

// closeServers deletes every key the benchmarks wrote and closes the clients.
func closeServers() error {
	serversMu.Lock()
	defer serversMu.Unlock()
	var errs []error
	for name, s := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r := s.def.rueidis
		cmds := make(rueidis.Commands, 0, len(s.written))
		for _, k := range s.written {
			cmds = append(cmds, r.B().Unlink().Key(k).Build())
		}
		for _, r := range r.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				break
			}
		}
		cancel()
		s.close()
		delete(servers, name)
	}
	return errors.Join(errs...)
}

func (s *server) close() {
	for _, c := range s.settings {
		if c != s.def {
			c.close()
		}
	}
	if s.def != nil {
		s.def.close()
	}
	if s.goredis != nil {
		_ = s.goredis.Close()
	}
}

// batches cuts keys into numKeys/batch runs of batch keys.
func batches(keys []string) [][]string {
	var out [][]string
	for i := 0; i+batch <= len(keys); i += batch {
		out = append(out, keys[i:i+batch])
	}
	return out
}
