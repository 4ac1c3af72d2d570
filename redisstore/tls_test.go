package redisstore_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
)

// TestTLS talks to a redis-server that accepts TLS only, with a certificate the test made: a
// client that trusts the CA works, one that does not fails clearly.
func TestTLS(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	caFile, certFile, keyFile := certs(t, dir)
	tlsPort := testenv.FreePort(t)
	testenv.StartRedis(t, dir, 0, "--port", "0", "--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile, "--tls-auth-clients", "no")
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(caPEM)
	url := fmt.Sprintf("rediss://127.0.0.1:%d", tlsPort)

	opt, err := redisstore.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.TLSConfig.RootCAs = pool
	var client rueidis.Client
	testenv.WaitFor(t, "the TLS server", 10*time.Second, func() bool {
		client, err = rueidis.NewClient(opt)
		return err == nil
	})
	defer client.Close()
	s, _ := redisstore.New(client, redisstore.Options{})
	if err := s.Set(ctx, "CACHE#tls", []byte(`"secret"`), time.Minute); err != nil {
		t.Fatalf("Set over TLS: %v", err)
	}
	if v, err := s.Get(ctx, "CACHE#tls"); err != nil || string(v) != `"secret"` {
		t.Errorf("Get over TLS = %q, %v", v, err)
	}

	// rediss:// with the system's roots does not trust the test's CA.
	untrusting, _ := redisstore.Open(url, redisstore.Options{})
	defer untrusting.Close()
	_, err = untrusting.Get(ctx, "CACHE#tls")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) || errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get over TLS without trusting the CA: %v, want an unknown-authority error", err)
	}
	// A plain connection to the TLS port fails too, rather than hanging.
	plain, _ := redisstore.Open(fmt.Sprintf("redis://127.0.0.1:%d?dial_timeout=1s", tlsPort), redisstore.Options{})
	defer plain.Close()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := plain.Get(cctx, "CACHE#tls"); err == nil {
		t.Error("a plain connection to the TLS port worked")
	}
}

// TestRequirePass authenticates with AUTH and the default user, as a server with requirepass
// (or ElastiCache's AUTH token) wants: no password and a wrong one fail clearly.
func TestRequirePass(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t, t.TempDir(), 0, "--requirepass", "s3cret-token")
	addr := fmt.Sprintf("127.0.0.1:%d", srv.Port)
	testenv.WaitFor(t, "the server", 10*time.Second, func() bool {
		out, _ := testenv.RedisCLI("-p", strconv.Itoa(srv.Port), "ping")
		return strings.Contains(out, "NOAUTH") || out == "PONG"
	})
	for _, tc := range []struct {
		url, want string
	}{
		{"redis://" + addr, "NOAUTH"},
		{"redis://:wrong@" + addr, "WRONGPASS"},
	} {
		s, _ := redisstore.Open(tc.url, redisstore.Options{})
		_, err := s.Get(ctx, "CACHE#k")
		if err == nil || errors.Is(err, backend.ErrNotFound) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Get via %s: %v, want an error with %s", strings.Replace(tc.url, "wrong", "…", 1), err, tc.want)
		}
		s.Close()
	}
	s, _ := redisstore.Open("redis://:s3cret-token@"+addr, redisstore.Options{})
	defer s.Close()
	if err := s.Set(ctx, "CACHE#k", []byte(`1`), time.Minute); err != nil {
		t.Errorf("Set with the right password: %v", err)
	}
}
