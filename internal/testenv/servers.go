package testenv

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// This file starts redis-server processes of a test's own, on 127.0.0.1 and free ports, for
// what the shared servers must not be put through: TLS, a password, a crash.

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RedisServer is a redis-server process a test started.
type RedisServer struct {
	Port int
	cmd  *exec.Cmd
}

// StartRedis runs redis-server with args, without persistence, on port (a free one when 0).
// It is killed when the test ends; the caller waits until it answers, as its args decide how.
func StartRedis(t testing.TB, dir string, port int, args ...string) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		Missing(t, "redis-server", err)
	}
	if port == 0 {
		port = FreePort(t)
	}
	all := append([]string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
		"--logfile", filepath.Join(dir, fmt.Sprintf("redis-%d.log", port))}, args...)
	if !contains(args, "--port") {
		all = append(all, "--port", strconv.Itoa(port))
	}
	s := &RedisServer{Port: port, cmd: exec.Command("redis-server", all...)}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	return s
}

// Kill ends the server at once, as a crash would.
func (s *RedisServer) Kill() {
	if s.cmd.Process != nil {
		_ = s.Resume() // a paused process would not die of SIGKILL's delivery until continued
		_ = s.cmd.Process.Kill()
		_, _ = s.cmd.Process.Wait()
	}
}

func contains(args []string, flag string) bool {
	for _, a := range args {
		if a == flag {
			return true
		}
	}
	return false
}

// RedisCLIErr runs redis-cli with args and reports a failure of the command or of Redis.
func RedisCLIErr(args ...string) error {
	out, err := RedisCLI(args...)
	if err == nil && strings.HasPrefix(out, "ERR") {
		err = fmt.Errorf("redis-cli %s: %s", strings.Join(args, " "), out)
	}
	return err
}

// RedisCLI runs redis-cli with args and returns its output.
func RedisCLI(args ...string) (string, error) {
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// WaitFor polls cond every 50ms until it holds or the deadline passes: the servers a test
// starts answer when they are ready, which no clock of the test's can hasten.
func WaitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v", what, within)
		case <-tick.C:
		}
	}
}

// Pause stops the server's process without ending it (SIGSTOP), as a hung server: its
// connections stay open and nothing answers. Resume continues it with its data.
func (s *RedisServer) Pause() error { return s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *RedisServer) Resume() error { return s.cmd.Process.Signal(syscall.SIGCONT) }
