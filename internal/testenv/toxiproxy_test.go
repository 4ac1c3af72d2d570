package testenv_test

import (
	"bufio"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

// ping sends PING on conn and returns Redis's answer, or the error that took its place.
func ping(conn net.Conn) (string, error) {
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}

// TestProxy puts each fault the Proxy offers between a plain TCP client and the standalone
// Redis, and takes it away again.
func TestProxy(t *testing.T) {
	u, err := url.Parse(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	testenv.Redis(t, testenv.RedisURL(), false) // fails or skips when Redis does not answer
	p := testenv.Toxiproxy(t).NewProxy(t, "testenv-redis", u.Host)
	if host, _, err := net.SplitHostPort(p.Addr()); err != nil || host != "127.0.0.1" {
		t.Fatalf("Addr() = %q, want 127.0.0.1:port", p.Addr())
	}
	dial := func() net.Conn {
		t.Helper()
		conn, err := net.DialTimeout("tcp", p.Addr(), 10*time.Second)
		if err != nil {
			t.Fatalf("dialing the proxy: %v", err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	pong := func(conn net.Conn) {
		t.Helper()
		if out, err := ping(conn); err != nil || out != "+PONG" {
			t.Fatalf("PING through the proxy = %q, %v; want +PONG", out, err)
		}
	}

	open := dial()
	pong(open)

	p.Down(t)
	if _, err := ping(open); err == nil {
		t.Error("a connection the proxy carried still answers after Down")
	}
	if conn, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		conn.Close()
		t.Error("the proxy accepts connections after Down")
	}
	p.Up(t)
	pong(dial())

	// A latency far above what a loaded machine adds to a local round trip, so that with
	// and without it are told apart on any machine.
	const latency = 2 * time.Second
	p.Latency(t, latency)
	conn := dial()
	start := time.Now()
	pong(conn)
	if took := time.Since(start); took < latency {
		t.Errorf("PING with %v of latency took %v", latency, took)
	}
	p.Clear(t)
	start = time.Now()
	pong(conn)
	if took := time.Since(start); took >= latency {
		t.Errorf("PING after Clear took %v, as if the latency were still there", took)
	}

	p.ResetPeer(t)
	if out, err := ping(dial()); err == nil {
		t.Errorf("PING with reset_peer = %q, want the connection reset", out)
	} else if !strings.Contains(err.Error(), "reset") {
		t.Logf("PING with reset_peer: %v (not a reset as such, but no answer)", err)
	}
	p.Clear(t)
	pong(dial())
}
