package redis

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// wire counts what one client sends to Redis, on every connection it dials: the writes to the
// socket, and the commands in them. A client flushes its buffer in one write and then waits for
// the replies, so that in a serial benchmark writes/op is the round trips of an operation (one
// per node it reaches); with many callers it shows how many commands share a write.
type wire struct {
	writes, commands atomic.Int64
}

// counts is a reading of a wire's counters.
type counts struct{ writes, commands int64 }

func (w *wire) read() counts { return counts{w.writes.Load(), w.commands.Load()} }

// report adds to b the writes and commands per operation since before.
func (w *wire) report(b *testing.B, before counts) {
	now := w.read()
	b.ReportMetric(float64(now.writes-before.writes)/float64(b.N), "writes/op")
	b.ReportMetric(float64(now.commands-before.commands)/float64(b.N), "cmds/op")
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

	mu  sync.Mutex // clients write a connection from one goroutine at a time; this is a guard
	cmd commandCounter
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	cmds := c.cmd.feed(p[:n])
	c.mu.Unlock()
	c.w.writes.Add(1)
	c.w.commands.Add(int64(cmds))
	return n, err
}

// NetConn returns the connection underneath, as crypto/tls.Conn's does.
func (c *countedConn) NetConn() net.Conn { return c.Conn }

type countedSyscallConn struct {
	countedConn
	sc syscall.Conn
}

func (c *countedSyscallConn) SyscallConn() (syscall.RawConn, error) { return c.sc.SyscallConn() }

// commandCounter counts the commands in a client's byte stream, which may be split anywhere
// between writes. A client sends every command as a RESP array of bulk strings:
// *<n>\r\n then n times $<len>\r\n<len bytes>\r\n.
type commandCounter struct {
	state commandState
	num   int // the number being read
	bulks int // bulk strings left in the command
	skip  int // payload bytes, and their \r\n, left in the bulk string
}

type commandState int

const (
	wantArray commandState = iota
	inArrayLen
	wantBulk
	inBulkLen
	inPayload
)

func (r *commandCounter) feed(p []byte) (commands int) {
	for i := 0; i < len(p); {
		if r.state == inPayload {
			k := min(r.skip, len(p)-i)
			i += k
			r.skip -= k
			if r.skip == 0 {
				r.state = r.next()
			}
			continue
		}
		ch := p[i]
		i++
		switch r.state {
		case wantArray:
			if ch == '*' {
				commands++
				r.num, r.state = 0, inArrayLen
			}
		case wantBulk:
			if ch == '$' {
				r.num, r.state = 0, inBulkLen
			}
		case inArrayLen, inBulkLen:
			switch {
			case ch >= '0' && ch <= '9':
				r.num = r.num*10 + int(ch-'0')
			case ch == '\n' && r.state == inArrayLen:
				r.bulks = r.num
				r.state = r.next()
			case ch == '\n':
				r.bulks--
				r.skip, r.state = r.num+2, inPayload
			}
		}
	}
	return commands
}

// next is the state after a complete element: another bulk string, or the next command.
func (r *commandCounter) next() commandState {
	if r.bulks > 0 {
		return wantBulk
	}
	return wantArray
}
