package ratelimit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/ratelimit"
	"github.com/cachekit/cachekit/redisstore"
)

// run is the prefix of every key this process writes, so that runs and other tests on the same
// server never meet.
var run = testenv.Name("cachekit-ratebench")

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m, func() {
		if err := closeServer(); err != nil {
			fmt.Fprintln(os.Stderr, "cleaning up:", err)
			os.Exit(1)
		}
	})
}

// server is the standalone Redis with a client of each library connected to it, each
// counted by a wire: rueidis under redisstore under cachekit's Limiters, go-redis under
// redis_rate's, each with the defaults a service would start from.
type server struct {
	rueidis     rueidis.Client
	rueidisWire *wire
	goredis     *goredis.Client
	goredisWire *wire

	gcra, fixed *ratelimit.Limiter
	redisRate   *redis_rate.Limiter
}

var (
	serverMu  sync.Mutex
	theServer *server
	failure   error
)

// connect returns the standalone server, connected, or skips b when it does not answer.
func connect(b *testing.B) *server {
	b.Helper()
	serverMu.Lock()
	defer serverMu.Unlock()
	if theServer != nil {
		return theServer
	}
	url := testenv.RedisURL()
	if failure == nil {
		theServer, failure = dial(url)
	}
	if failure != nil {
		testenv.Missing(b, "Redis at "+url, failure)
	}
	return theServer
}

// dial connects both clients to url: rueidis with the options redisstore.Open gives it, and
// go-redis with its defaults.
func dial(url string) (*server, error) {
	opt, err := redisstore.ParseURL(url)
	if err != nil {
		return nil, err
	}
	s := &server{rueidisWire: &wire{}, goredisWire: &wire{}}
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
	if s.rueidis, err = rueidis.NewClient(opt); err != nil {
		return nil, err
	}
	s.goredis = goredis.NewClient(&goredis.Options{
		Addr: opt.InitAddress[0], Username: opt.Username, Password: opt.Password, DB: opt.SelectDB,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return s.goredisWire.wrap(c), nil
		},
	})
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
	// A Limiter per algorithm, each under a prefix of its own, as package ratelimit asks.
	if s.gcra, err = ratelimit.New(store, run+"/gcra/", ratelimit.Options{}); err == nil {
		s.fixed, err = ratelimit.New(store, run+"/fixed/", ratelimit.Options{Algorithm: ratelimit.FixedWindow})
	}
	if err != nil {
		s.close()
		return nil, err
	}
	s.redisRate = redis_rate.NewLimiter(s.goredis)
	return s, nil
}

// closeServer deletes every key the benchmarks wrote, found by the run's prefix (redis_rate
// puts "rate:" before its keys), and closes the clients.
func closeServer() error {
	serverMu.Lock()
	defer serverMu.Unlock()
	s := theServer
	if s == nil {
		return nil
	}
	theServer = nil
	defer s.close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, pattern := range []string{run + "/*", "rate:" + run + "/*"} {
		var cursor uint64
		for {
			entry, err := s.rueidis.Do(ctx, s.rueidis.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				errs = append(errs, err)
				break
			}
			if len(entry.Elements) > 0 {
				if err := s.rueidis.Do(ctx, s.rueidis.B().Unlink().Key(entry.Elements...).Build()).Error(); err != nil {
					errs = append(errs, err)
					break
				}
			}
			if cursor = entry.Cursor; cursor == 0 {
				break
			}
		}
	}
	return errors.Join(errs...)
}

func (s *server) close() {
	if s.goredis != nil {
		_ = s.goredis.Close()
	}
	s.rueidis.Close()
}
