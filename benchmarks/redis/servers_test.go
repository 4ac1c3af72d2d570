package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
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
	callers = 64  // goroutines of the throughput benchmarks
)

// run is the prefix of every key this process writes, so that runs and other tests on the same
// servers never meet.
var run = testenv.Name("cachekit-bench")

func TestMain(m *testing.M) {
	code := m.Run()
	if err := closeServers(); err != nil {
		fmt.Fprintln(os.Stderr, "cleaning up:", err)
		code = 1
	}
	os.Exit(code)
}

// server is one Redis deployment with a client of each library connected to it, and the keys
// each library wrote there.
// flushDelay is the MaxFlushDelay of the "-flush" impls: redisstore's max_flush_delay=20us.
const flushDelay = 20 * time.Microsecond

type server struct {
	name    string
	cluster bool

	rueidis     rueidis.Client
	rueidisWire *wire
	// rueidisFlush is the same client with MaxFlushDelay (redisstore's max_flush_delay), and
	// cachekitFlushView a view over it: the throughput setting beside the default.
	rueidisFlush      rueidis.Client
	rueidisFlushWire  *wire
	cachekitFlush     *cachekit.Cache
	cachekitFlushView *cachekit.View[string]
	goredis           goredis.UniversalClient
	goredisWire       *wire

	cachekit     *cachekit.Cache
	cachekitView *cachekit.View[string]
	gocache      *gocache.Cache[string]
	rediscache   *rediscache.Cache

	keys    map[string][]string // by impl, as the library is called with them
	written []string            // every key stored, for the cleanup
}

var (
	serversMu sync.Mutex
	servers   = map[string]*server{}
	failures  = map[string]error{}
)

// connect returns the server name ("standalone" or "cluster"), connected and holding numKeys
// keys for each library, or skips b when it does not answer.
func connect(b *testing.B, name string) *server {
	b.Helper()
	serversMu.Lock()
	defer serversMu.Unlock()
	if s := servers[name]; s != nil {
		return s
	}
	url := testenv.RedisURL()
	if name == "cluster" {
		url = testenv.RedisClusterURL()
	}
	if err := failures[name]; err != nil {
		testenv.Missing(b, "Redis at "+url, err)
	}
	s, err := dial(name, url)
	if err == nil {
		err = s.fill(context.Background())
		if err != nil {
			s.close()
		}
	}
	if err != nil {
		failures[name] = err
		testenv.Missing(b, "Redis at "+url, err)
	}
	servers[name] = s
	return s
}

// dial connects a rueidis and a go-redis client, each counted by a wire, with their defaults
// but for rueidis's client-side cache, which cachekit turns off.
func dial(name, url string) (*server, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	s := &server{name: name, cluster: name == "cluster", rueidisWire: &wire{}, rueidisFlushWire: &wire{}, goredisWire: &wire{}, keys: map[string][]string{}}
	opt.DisableCache = true
	opt.Dialer.Timeout = 2 * time.Second
	opt.DialCtxFn = func(ctx context.Context, addr string, d *net.Dialer, tc *tls.Config) (net.Conn, error) {
		if tc != nil {
			return nil, errors.New("the benchmarks count bytes on plain connections: use redis://, not rediss://")
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return s.rueidisWire.wrap(c), nil
	}
	s.rueidis, err = rueidis.NewClient(opt)
	if err != nil {
		return nil, err
	}
	flushOpt := opt
	flushOpt.MaxFlushDelay = flushDelay
	flushOpt.DialCtxFn = func(ctx context.Context, addr string, d *net.Dialer, _ *tls.Config) (net.Conn, error) {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return s.rueidisFlushWire.wrap(c), nil
	}
	if s.rueidisFlush, err = rueidis.NewClient(flushOpt); err != nil {
		s.rueidis.Close()
		return nil, err
	}
	if s.cluster && s.rueidis.Mode() != rueidis.ClientModeCluster {
		s.rueidis.Close()
		return nil, fmt.Errorf("%s is not a cluster", url)
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

	store, err := redisstore.New(s.rueidis, redisstore.Options{})
	if err != nil {
		s.close()
		return nil, err
	}
	if s.cachekit, err = cachekit.New(store, cachekit.Options{Prefix: run + "/cachekit/"}); err != nil {
		s.close()
		return nil, err
	}
	s.cachekitView = cachekit.Typed[string](s.cachekit, "", ttl)
	flushStore, err := redisstore.New(s.rueidisFlush, redisstore.Options{})
	if err != nil {
		s.close()
		return nil, err
	}
	if s.cachekitFlush, err = cachekit.New(flushStore, cachekit.Options{Prefix: run + "/cachekit/"}); err != nil {
		s.close()
		return nil, err
	}
	s.cachekitFlushView = cachekit.Typed[string](s.cachekitFlush, "", ttl)
	s.gocache = gocache.New[string](gocacheredis.NewRedis(s.goredis, gocachestore.WithExpiration(ttl)))
	s.rediscache = rediscache.New(&rediscache.Options{Redis: s.goredis})
	return s, nil
}

// fill writes numKeys keys for each library, each through the library's own Set so that each
// finds its own encoding: the raw clients share one set of plain values.
func (s *server) fill(ctx context.Context) error {
	for _, impl := range []string{"raw", "cachekit", "gocache", "go-redis-cache"} {
		for i := range numKeys {
			full := fmt.Sprintf("%s/%s/k%04d", run, impl, i)
			key := full
			if impl == "cachekit" {
				key = full[len(s.cachekit.Prefix()):]
			}
			s.keys[impl] = append(s.keys[impl], key)
			s.written = append(s.written, full)
		}
	}
	cmds := make(rueidis.Commands, 0, numKeys)
	for _, k := range s.keys["raw"] {
		cmds = append(cmds, s.rueidis.B().Set().Key(k).Value(value).PxMilliseconds(ttl.Milliseconds()).Build())
	}
	for _, r := range s.rueidis.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	for _, c := range s.caches() {
		for _, k := range c.keys {
			if err := c.set(ctx, k, value); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		}
	}
	return nil
}

// closeServers deletes every key the benchmarks wrote and closes the clients.
func closeServers() error {
	serversMu.Lock()
	defer serversMu.Unlock()
	var errs []error
	for name, s := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmds := make(rueidis.Commands, 0, len(s.written))
		for _, k := range s.written {
			cmds = append(cmds, s.rueidis.B().Unlink().Key(k).Build())
		}
		for _, r := range s.rueidis.DoMulti(ctx, cmds...) {
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
	if s.cachekit != nil {
		_ = s.cachekit.Close() // closes the store, not the rueidis client passed to it
	}
	if s.cachekitFlush != nil {
		_ = s.cachekitFlush.Close()
	}
	s.rueidisFlush.Close()
	if s.goredis != nil {
		_ = s.goredis.Close()
	}
	s.rueidis.Close()
}

// batches cuts keys into numKeys/batch runs of batch keys.
func batches(keys []string) [][]string {
	var out [][]string
	for i := 0; i+batch <= len(keys); i += batch {
		out = append(out, keys[i:i+batch])
	}
	return out
}

// parallelism is the b.SetParallelism that makes RunParallel start callers goroutines.
func parallelism() int {
	p := runtime.GOMAXPROCS(0)
	return (callers + p - 1) / p
}
