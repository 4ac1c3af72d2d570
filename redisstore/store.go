package redisstore

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit/backend"
)

// MaxValueSize is the largest value Redis takes in one string (proto-max-bulk-len's default).
const MaxValueSize = 512 << 20

// Options configures a Store. The zero value means every documented default.
type Options struct {
	// ScanCount is the COUNT hint of the SCANs of Count and Clear. Zero means 1000.
	ScanCount int64
	// Clock, for tests, is the time source for expiry: writes set absolute expiries from it
	// (PXAT) and reads check them (PEXPIRETIME), so that a test moves time instead of waiting
	// for the server's. Nil, as in production, leaves expiry to the server alone.
	Clock backend.Clock
}

// Client is what a Store needs of a Redis client. A rueidis.Client has it, configured as
// the caller likes (the store never turns on its client-side cache, DoCache).
type Client interface {
	B() rueidis.Builder
	Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult
	DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult
	// Nodes returns a client per node, for the SCANs of Count and Clear on every master.
	Nodes() map[string]rueidis.Client
	// Mode tells a cluster, whose batches go by hash slot, from a single server.
	Mode() rueidis.ClientMode
}

var _ Client = rueidis.Client(nil)

// Store is a backend.Store on a Redis server or cluster. Create it with New or Open; it is
// safe for concurrent use.
type Store struct {
	o      Options
	closed atomic.Bool

	client  atomic.Pointer[Client]         // nil until the first call connects
	connect func() (rueidis.Client, error) // Open's: builds the client on first use
	owned   rueidis.Client                 // the client Open built, which Close closes

	mu      sync.Mutex // guards dialing, and orders connecting with closing
	dialing *dial      // the connection attempt under way, if any

	parts    atomic.Pointer[slotParts] // a cluster's slot ranges, once learned (Partition)
	learning atomic.Bool               // a call is learning them
}

// dial is one connection attempt, which every caller that needs the client waits for as long
// as its own context allows.
type dial struct {
	done chan struct{} // closed when the attempt has ended
	err  error
}

var _ backend.Store = (*Store)(nil)

// New returns a Store on a client the caller configured and keeps: Close leaves it open.
func New(client Client, opts Options) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("redisstore: nil client: %w", backend.ErrConfig)
	}
	s := &Store{o: opts.withDefaults()}
	s.client.Store(&client)
	return s, nil
}

// Open returns a Store that connects, on its first call, to the server or cluster url names
// (see ParseURL); Close closes that connection. Open itself sends nothing. A connection
// attempt first dials the seed addresses and fails, building no client, when none accepts a
// connection.
func Open(url string, opts Options) (*Store, error) {
	copt, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	return &Store{
		o: opts.withDefaults(),
		connect: func() (rueidis.Client, error) {
			if err := reach(copt); err != nil {
				return nil, err
			}
			return rueidis.NewClient(copt)
		},
	}, nil
}

func (o Options) withDefaults() Options {
	if o.ScanCount <= 0 {
		o.ScanCount = 1000
	}
	return o
}

// use returns the client for one call, connecting on the first, or why there is none.
func (s *Store) use(ctx context.Context) (Client, error) {
	if s.closed.Load() {
		return nil, backend.ErrClosed
	}
	if err := backend.ContextErr(ctx); err != nil {
		return nil, err
	}
	if c := s.client.Load(); c != nil {
		if s.parts.Load() == nil {
			s.learnSlots(ctx, *c)
		}
		return *c, nil
	}
	s.mu.Lock()
	d := s.dialing
	if d == nil {
		d = &dial{done: make(chan struct{})}
		s.dialing = d
		go s.dial(d)
	}
	s.mu.Unlock()
	wait, cancel := backend.RequestContext(ctx)
	defer cancel()
	select {
	case <-d.done:
	case <-wait.Done():
		return nil, fmt.Errorf("redisstore: connecting: %w", backend.ContextErr(wait))
	}
	if d.err != nil {
		return nil, fmt.Errorf("redisstore: connecting: %w", backend.CallErr(ctx, d.err))
	}
	if c := s.client.Load(); c != nil {
		s.learnSlots(ctx, *c)
		return *c, nil
	}
	return nil, backend.ErrClosed
}

// dial makes one connection attempt. A failed attempt is forgotten, so that the next call
// tries again; a client made after Close is closed at once.
func (s *Store) dial(d *dial) {
	c, err := s.connect()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		d.err = err
		s.dialing = nil
	case s.closed.Load():
		c.Close()
	default:
		s.owned = c
		var cl Client = c
		s.client.Store(&cl)
	}
	close(d.done)
}

// reach dials the seed addresses until one accepts a connection, and reports why none did.
// A rueidis client that fails to connect leaves a delayed topology refresh running for up
// to a second on a goroutine that nothing can stop or wait for; a server nobody listens on,
// the common failure, never gets that far.
func reach(opt rueidis.ClientOption) error {
	d := opt.Dialer
	if d.Timeout == 0 {
		d.Timeout = rueidis.DefaultDialTimeout
	}
	var err error
	for _, addr := range opt.InitAddress {
		var c net.Conn
		if c, err = d.Dial("tcp", addr); err == nil {
			return c.Close()
		}
	}
	return err
}

// wrap names the command in err and, once ctx is done, makes it wrap ctx.Err() too,
// whatever the client made of it (a dial's "i/o timeout").
func wrap(ctx context.Context, cmd string, err error) error {
	return fmt.Errorf("redisstore: %s: %w", cmd, backend.CallErr(ctx, err))
}

// do sends one command within the timeout ctx carries for each request (see
// backend.RequestContext).
func do(ctx context.Context, c Client, cmd rueidis.Completed) rueidis.RedisResult {
	rctx, cancel := backend.RequestContext(ctx)
	defer cancel()
	return c.Do(rctx, cmd)
}

// doMulti sends commands pipelined, as one request, within the timeout ctx carries for each.
func doMulti(ctx context.Context, c Client, cmds ...rueidis.Completed) []rueidis.RedisResult {
	rctx, cancel := backend.RequestContext(ctx)
	defer cancel()
	return c.DoMulti(rctx, cmds...)
}

// BoundsRequests implements backend.RequestBounder: every request a call sends (each
// pipeline of a batch, each command) is bounded by the request timeout of its context, and
// so is the wait for the first connection.
func (s *Store) BoundsRequests() {}

var _ backend.RequestBounder = (*Store)(nil)

// Close makes later calls report backend.ErrClosed and closes the connection Open made; a
// client passed to New stays open. Close is idempotent and always returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	d := s.dialing
	s.mu.Unlock()
	if d != nil {
		<-d.done // an attempt under way ends within its dial timeout
	}
	s.mu.Lock()
	owned := s.owned
	s.mu.Unlock()
	if owned != nil {
		owned.Close()
	}
	return nil
}

// ms turns a TTL into whole milliseconds, rounded up, so that an entry lives at least its TTL.
func ms(ttl time.Duration) int64 {
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}

// escapeGlob makes every character of s stand for itself in a SCAN MATCH pattern.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// checkValue refuses values Redis would.
func checkValue(v []byte) error {
	if len(v) > MaxValueSize {
		return fmt.Errorf("%w: %d bytes, over Redis's %d", backend.ErrValueTooLarge, len(v), MaxValueSize)
	}
	return nil
}
