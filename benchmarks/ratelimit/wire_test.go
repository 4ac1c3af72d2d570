package ratelimit

import (
	"net"
	"sync/atomic"
	"syscall"
	"testing"
)

// wire counts what one client writes to Redis, on every connection it dials: the writes to the
// socket and their bytes. A client flushes a request in one write and then waits for the
// reply, so that in a serial benchmark writes/op is the round trips of one Allow; sent-B/op
// shows what each carries (a script's text, or its SHA-1).
type wire struct {
	writes, bytes atomic.Int64
}

// counts is a reading of a wire's counters.
type counts struct{ writes, bytes int64 }

func (w *wire) read() counts { return counts{w.writes.Load(), w.bytes.Load()} }

// report adds to b the writes and bytes per operation since before.
func (w *wire) report(b *testing.B, before counts) {
	now := w.read()
	b.ReportMetric(float64(now.writes-before.writes)/float64(b.N), "writes/op")
	b.ReportMetric(float64(now.bytes-before.bytes)/float64(b.N), "sent-B/op")
}

// wrap returns c counted by w. It keeps c's syscall.Conn, which go-redis uses for its health
// checks, so that the counting changes nothing else.
func (w *wire) wrap(c net.Conn) net.Conn {
	if sc, ok := c.(interface {
		net.Conn
		syscall.Conn
	}); ok {
		return &countedSyscallConn{countedConn{Conn: c, w: w}, sc}
	}
	return &countedConn{Conn: c, w: w}
}

type countedConn struct {
	net.Conn
	w *wire
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w.writes.Add(1)
	c.w.bytes.Add(int64(n))
	return n, err
}

type countedSyscallConn struct {
	countedConn
	sc syscall.Conn
}

func (c *countedSyscallConn) SyscallConn() (syscall.RawConn, error) { return c.sc.SyscallConn() }
