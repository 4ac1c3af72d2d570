// Package wirecount counts what a Redis client sends on the connections it dials: the writes
// to the socket, their bytes, and the RESP commands in them, so that a benchmark can report
// round trips and what each carries beside its time.
package wirecount

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// Counter counts what one client sends, on every connection it dials (see Wrap). A client
// flushes its buffer in one write and then waits for the replies, so that in a serial
// benchmark the writes per operation are its round trips (one per node it reaches); with many
// callers they show how many commands share a write. A zero Counter is ready to use.
type Counter struct {
	writes, commands, bytes atomic.Int64
}

// Counts is a reading of a Counter.
type Counts struct{ Writes, Commands, Bytes int64 }

// Read returns the counts so far.
func (w *Counter) Read() Counts {
	return Counts{w.writes.Load(), w.commands.Load(), w.bytes.Load()}
}

// Wrap returns c counted by w. It keeps c's syscall.Conn, which go-redis uses for its health
// checks, so that the counting changes nothing else.
func (w *Counter) Wrap(c net.Conn) net.Conn {
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
	w *Counter

	mu  sync.Mutex // clients write a connection from one goroutine at a time; this is a guard
	cmd commandCounter
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	cmds := c.cmd.feed(p[:n])
	c.mu.Unlock()
	c.w.writes.Add(1)
	c.w.bytes.Add(int64(n))
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
