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
//
// rueidis runs a call on the caller's goroutine while its connection has never had two calls
// in flight and the call's context cannot be cancelled; otherwise, and from then on, through
// its pipeline's writer and reader goroutines. A service's calls, with a request's context,
// take the pipeline, as the benchmarks' do; a second client, used one call at a time with
// context.Background() only, keeps the caller's-goroutine path for BenchmarkAllowPaired's
// ctx=background.
type server struct {
	rueidis     rueidis.Client
	rueidisWire *wire
	goredis     *goredis.Client
	goredisWire *wire

	gcra, fixed *ratelimit.Limiter
	redisRate   *redis_rate.Limiter

	rueidisSync         rueidis.Client
	rueidisSyncWire     *wire
	syncGCRA, syncFixed *ratelimit.Limiter
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

// dial connects the clients to url: rueidis with the options redisstore.Open gives it, and
// go-redis with its defaults.
func dial(url string) (*server, error) {
	opt, err := redisstore.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.Dialer.Timeout = 2 * time.Second
	s := &server{rueidisWire: &wire{}, rueidisSyncWire: &wire{}, goredisWire: &wire{}}
	if s.rueidis, err = newRueidis(opt, s.rueidisWire); err != nil {
		return nil, err
	}
	if s.rueidisSync, err = newRueidis(opt, s.rueidisSyncWire); err != nil {
		s.close()
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
	if s.gcra, s.fixed, err = limiters(s.rueidis); err == nil {
		s.syncGCRA, s.syncFixed, err = limiters(s.rueidisSync)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	s.redisRate = redis_rate.NewLimiter(s.goredis)
	return s, nil
}

// newRueidis connects a rueidis client with opt, counted by w.
func newRueidis(opt rueidis.ClientOption, w *wire) (rueidis.Client, error) {
	opt.DialCtxFn = func(ctx context.Context, addr string, d *net.Dialer, tc *tls.Config) (net.Conn, error) {
		if tc != nil {
			return nil, errors.New("the benchmarks count bytes on plain connections: use redis://, not rediss://")
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return w.wrap(c), nil
	}
	return rueidis.NewClient(opt)
}

// limiters returns cachekit's GCRA and fixed-window Limiters over a redisstore on c, each under
// a prefix of its own, as package ratelimit asks.
func limiters(c rueidis.Client) (gcra, fixed *ratelimit.Limiter, err error) {
	store, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		return nil, nil, err
	}
	if gcra, err = ratelimit.New(store, run+"/gcra/", ratelimit.Options{}); err != nil {
		return nil, nil, err
	}
	fixed, err = ratelimit.New(store, run+"/fixed/", ratelimit.Options{Algorithm: ratelimit.FixedWindow})
	return gcra, fixed, err
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
	if s.rueidisSync != nil {
		s.rueidisSync.Close()
	}
	s.rueidis.Close()
}
