package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
)

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

// conformance runs the kit on a Redis server or cluster, with the kit's clock (PXAT and
// PEXPIRETIME) or, with wall, as in production (SET … PX, PTTL, the server's own expiry), and
// checks with a SCAN of every master that it left no key behind.
func conformance(t *testing.T, url string, cluster, wall bool) {
	client := testenv.Redis(t, url, cluster)
	prefix := testenv.Name("cachetest") + ":"
	cachetest.Run(t, cachetest.Harness{
		Prefix:    prefix,
		WallClock: wall,
		New: func(t *testing.T, clock backend.Clock) backend.Store {
			s, err := redisstore.New(client, redisstore.Options{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
	if left := scanKeys(t, client, prefix); len(left) > 0 {
		t.Errorf("the kit left %d keys under %q, such as %q", len(left), prefix, left[0])
	}
}

// scanKeys returns the keys under prefix on every master, read with SCAN; prefix holds no
// glob character.
func scanKeys(t *testing.T, client rueidis.Client, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	for addr, node := range client.Nodes() {
		role, err := node.Do(ctx, node.B().Role().Build()).ToArray()
		if err != nil || len(role) == 0 {
			t.Fatalf("ROLE of %s: %v", addr, err)
		}
		if r, _ := role[0].ToString(); r != "master" {
			continue
		}
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Fatalf("SCAN of %s: %v", addr, err)
			}
			keys = append(keys, e.Elements...)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return keys
}

func TestConformance(t *testing.T) {
	conformance(t, testenv.RedisURL(), false, false)
}

func TestConformanceCluster(t *testing.T) {
	conformance(t, testenv.RedisClusterURL(), true, false)
}

// TestConformanceWallClock runs the kit on the store as production builds it, with no clock.
func TestConformanceWallClock(t *testing.T) {
	conformance(t, testenv.RedisURL(), false, true)
}

func TestConformanceClusterWallClock(t *testing.T) {
	conformance(t, testenv.RedisClusterURL(), true, true)
}

// TestPlainRedisReadsTheEntries writes through a Cache on a Store that Open connected, and
// reads with a plain client: the key name, the JSON text and the key's own TTL.
func TestPlainRedisReadsTheEntries(t *testing.T) {
	for name, tc := range testenv.RedisTargets() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			raw := testenv.Redis(t, tc.URL, tc.Cluster)
			prefix := testenv.Name("CACHE#plain") + ":"
			s, err := redisstore.Open(tc.URL, redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			c, _ := cachekit.New(s, cachekit.Options{Prefix: prefix})
			defer c.Close()
			type geo struct {
				City string `json:"city"`
			}
			if err := cachekit.Typed[geo](c, "", 0).Set(ctx, "1.1.1.1", geo{City: "Sydney"}, 1500*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			v, err := raw.Do(ctx, raw.B().Get().Key(prefix+"1.1.1.1").Build()).ToString()
			if err != nil || v != `{"city":"Sydney"}` {
				t.Errorf("GET %s1.1.1.1 = %q, %v; want the JSON text", prefix, v, err)
			}
			pttl, err := raw.Do(ctx, raw.B().Pttl().Key(prefix+"1.1.1.1").Build()).AsInt64()
			if err != nil || pttl <= 0 || pttl > 1500 {
				t.Errorf("PTTL = %d, %v; want the 1500ms TTL set as the key's own", pttl, err)
			}
			if _, err := c.Clear(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestKeysOutsideThePrefixAreUntouched puts other keys, some of them look-alikes of the
// prefix, on the same servers, runs every operation, Clear included, and checks them.
func TestKeysOutsideThePrefixAreUntouched(t *testing.T) {
	for name, tc := range testenv.RedisTargets() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			raw := testenv.Redis(t, tc.URL, tc.Cluster)
			run := testenv.Name("run")
			prefix := "CACHE#[" + run + "]*:"
			others := []string{
				"session:" + run, run, "CACHE#" + run, "CACHE#x" + run + "]*:k", "CACHE#[" + run + "]x:k",
				"cache#[" + run + "]*:k", "CACHE#[" + run + "]*", "x" + prefix + "k",
			}
			for _, k := range others {
				if err := raw.Do(ctx, raw.B().Set().Key(k).Value("business").Build()).Error(); err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(func() {
				for _, k := range others {
					raw.Do(context.Background(), raw.B().Del().Key(k).Build())
				}
			})
			s, err := redisstore.Open(tc.URL, redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			c, _ := cachekit.New(s, cachekit.Options{Prefix: prefix})
			defer c.Close()
			var keys []string
			vals := map[string]int{}
			for i := range 300 {
				k := "k" + string(rune('a'+i%26)) + strings.Repeat("x", i%7) + string(rune('0'+i%10)) + string(rune('A'+i/26))
				keys = append(keys, k)
				vals[k] = i
			}
			v := cachekit.Typed[int](c, "", 0)
			_, getManyErr := v.GetMany(ctx, keys)
			errs := []error{
				v.Set(ctx, "one", 1, 0),
				v.SetMany(ctx, vals, time.Minute),
				getManyErr,
				v.Expire(ctx, "one", time.Hour),
				v.DeleteMany(ctx, keys[:50]...),
			}
			n, err := c.Clear(ctx)
			errs = append(errs, err)
			for i, err := range errs {
				if err != nil {
					t.Errorf("operation %d: %v", i, err)
				}
			}
			if n != 1+len(vals)-50 {
				t.Errorf("Clear removed %d keys, want %d", n, 1+len(vals)-50)
			}
			for _, k := range others {
				v, err := raw.Do(ctx, raw.B().Get().Key(k).Build()).ToString()
				if err != nil || v != "business" {
					t.Errorf("the key %q outside the prefix is now %q, %v", k, v, err)
				}
				if pttl, _ := raw.Do(ctx, raw.B().Pttl().Key(k).Build()).AsInt64(); pttl != -1 {
					t.Errorf("the key %q outside the prefix got a TTL: %dms", k, pttl)
				}
			}
		})
	}
}

func TestAuth(t *testing.T) {
	ctx := context.Background()
	raw := testenv.Redis(t, testenv.RedisURL(), false)
	user, pass := testenv.Name("cachekit"), testenv.Name("secret")
	if err := raw.Do(ctx, raw.B().AclSetuser().Username(user).Rule("on", ">"+pass, "~CACHE#*", "+@all").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Do(context.Background(), raw.B().AclDeluser().Username(user).Build()) })
	host := strings.TrimPrefix(testenv.RedisURL(), "redis://")

	wrong, _ := redisstore.Open("redis://"+user+":wrong-"+pass+"@"+host, redisstore.Options{})
	defer wrong.Close()
	_, err := wrong.Get(ctx, "CACHE#k")
	if err == nil || errors.Is(err, backend.ErrNotFound) || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("Get with a wrong password: %v, want a clear authentication error", err)
	}
	if strings.Contains(err.Error(), pass) {
		t.Error("the error quotes the password")
	}
	right, _ := redisstore.Open("redis://"+user+":"+pass+"@"+host, redisstore.Options{})
	defer right.Close()
	if err := right.Set(ctx, "CACHE#"+user, []byte(`1`), time.Minute); err != nil {
		t.Errorf("Set with the right password: %v", err)
	}
	if _, err := right.Clear(ctx, "CACHE#"+user); err != nil {
		t.Errorf("Clear with the right password: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url      string
		addrs    int
		tls      bool
		single   bool
		db       int
		user     string
		flush    time.Duration
		wantFail bool
	}{
		{url: "redis://127.0.0.1:6379", addrs: 1},
		{url: "rediss://user:pw@cache.example.com:6380/2", addrs: 1, tls: true, db: 2, user: "user"},
		{url: "redis://a:7000?addr=b:7001&addr=c:7002", addrs: 3},
		{url: "redis://a:7000?cluster=false", addrs: 1, single: true},
		{url: "redis://a:7000?cluster=maybe", wantFail: true},
		{url: "redis://a:7000?max_flush_delay=20us", addrs: 1, flush: 20 * time.Microsecond},
		{url: "redis://a:7000?max_flush_delay=soon", wantFail: true},
		{url: "redis://a:7000?max_flush_delay=2s", wantFail: true},
		{url: "memcached://a", wantFail: true},
		{url: "redis://user:se cret@%zz", wantFail: true},
	} {
		opt, err := redisstore.ParseURL(tc.url)
		if tc.wantFail {
			if err == nil {
				t.Errorf("ParseURL(%q): want an error", tc.url)
			} else if strings.Contains(err.Error(), "se cret") {
				t.Errorf("ParseURL's error quotes the password: %v", err)
			}
			continue
		}
		if err != nil || len(opt.InitAddress) != tc.addrs || (opt.TLSConfig != nil) != tc.tls || opt.ForceSingleClient != tc.single ||
			opt.SelectDB != tc.db || opt.Username != tc.user || !opt.DisableCache || opt.MaxFlushDelay != tc.flush {
			t.Errorf("ParseURL(%q) = %+v, %v", tc.url, opt, err)
		}
	}
}

func TestOpenSendsNothingUntilUsed(t *testing.T) {
	s, err := redisstore.Open("redis://127.0.0.1:9", redisstore.Options{}) // nothing listens there
	if err != nil {
		t.Fatalf("Open of an unreachable server: %v, want no error until the first call", err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.Get(ctx, "CACHE#k"); err == nil || errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get from an unreachable server: %v, want a connection error", err)
	}
}

// TestFirstCallHonoursItsContext connects to a server that accepts and never answers: a
// caller waiting for the first connection returns when its own context ends, not when the
// connection attempt gives up.
func TestFirstCallHonoursItsContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	s, _ := redisstore.Open("redis://"+l.Addr().String()+"?dial_timeout=1s&write_timeout=1s&cluster=false", redisstore.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Get(ctx, "CACHE#k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get while the first connection hangs: %v, want the caller's deadline", err)
	}
	s.Close()
}

// TestNewTakesAnythingWithTheClientMethods: the store asks only for its small Client
// interface, so a wrapper around a configured client, with nothing else, serves.
func TestNewTakesAnythingWithTheClientMethods(t *testing.T) {
	for name, tc := range testenv.RedisTargets() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			type only struct{ redisstore.Client }
			s, err := redisstore.New(only{testenv.Redis(t, tc.URL, tc.Cluster)}, redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			prefix := testenv.Name("CACHE#small") + ":"
			var keys []string
			for i := range 50 {
				k := fmt.Sprintf("%s%d", prefix, i)
				keys = append(keys, k)
				if err := s.Set(ctx, k, []byte(`1`), time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			if found, err := s.GetMany(ctx, keys); err != nil || len(found) != 50 {
				t.Errorf("GetMany of 50 keys over many slots = %d found, %v", len(found), err)
			}
			if n, err := s.Clear(ctx, prefix); err != nil || n != 50 {
				t.Errorf("Clear = %d, %v; want 50", n, err)
			}
		})
	}
}
