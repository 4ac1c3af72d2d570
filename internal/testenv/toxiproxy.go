package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// This file drives toxiproxy, the TCP proxy scripts/services starts, through its HTTP API
// (https://github.com/Shopify/toxiproxy#http-api), to put real faults between a test's client
// and a real server: a server that is down, slow, or resets its connections. Its client is
// net/http, so that the library's go.mod does not gain toxiproxy's.

// ToxiproxyURL is where toxiproxy's API listens: CACHEKIT_TOXIPROXY_URL, or
// http://127.0.0.1:8474.
func ToxiproxyURL() string { return envOr("CACHEKIT_TOXIPROXY_URL", "http://127.0.0.1:8474") }

// ToxiproxyServer is the toxiproxy server the tests share. Get it with Toxiproxy.
type ToxiproxyServer struct {
	url string
}

var toxiproxyOnce = sync.OnceValue(func() error {
	var v struct {
		Version string `json:"version"`
	}
	return (&ToxiproxyServer{url: ToxiproxyURL()}).call(http.MethodGet, "/version", nil, &v)
})

// Toxiproxy returns the toxiproxy server at ToxiproxyURL, or fails or skips t when it does not
// answer.
func Toxiproxy(t testing.TB) *ToxiproxyServer {
	t.Helper()
	if err := toxiproxyOnce(); err != nil {
		Missing(t, "toxiproxy at "+ToxiproxyURL(), err)
	}
	return &ToxiproxyServer{url: ToxiproxyURL()}
}

// Proxy is one of toxiproxy's TCP proxies: what a client sends to Addr goes to the upstream
// server, through whatever faults the test puts in the way.
type Proxy struct {
	api  *ToxiproxyServer
	name string
	addr string
}

// proxyFields are the proxy's fields in toxiproxy's API.
type proxyFields struct {
	Name     string `json:"name,omitempty"`
	Listen   string `json:"listen,omitempty"`
	Upstream string `json:"upstream,omitempty"`
	Enabled  bool   `json:"enabled"`
}

// NewProxy creates a proxy to upstream (host:port), named name and a suffix unique to the run,
// listening on a free port of 127.0.0.1. It is deleted when the test ends.
func (s *ToxiproxyServer) NewProxy(t testing.TB, name, upstream string) *Proxy {
	t.Helper()
	// Port 0: toxiproxy binds a free port itself and answers with it, which leaves no gap
	// between choosing a port and listening on it. Re-enabling the proxy reuses that port.
	in := proxyFields{Name: Name(name), Listen: "127.0.0.1:0", Upstream: upstream, Enabled: true}
	var out proxyFields
	if err := s.call(http.MethodPost, "/proxies", in, &out); err != nil {
		t.Fatalf("toxiproxy: creating a proxy to %s: %v", upstream, err)
	}
	p := &Proxy{api: s, name: out.Name, addr: out.Listen}
	t.Cleanup(func() {
		if err := s.call(http.MethodDelete, p.path(""), nil, nil); err != nil {
			t.Logf("toxiproxy: deleting proxy %s: %v", p.name, err)
		}
	})
	return p
}

// Addr is the host:port clients connect to.
func (p *Proxy) Addr() string { return p.addr }

// Down takes the proxy down: it refuses new connections and closes those it carries, as a
// server that crashed or a network that partitioned.
func (p *Proxy) Down(t testing.TB) {
	t.Helper()
	p.update(t, false)
}

// Up puts the proxy back, on the same address.
func (p *Proxy) Up(t testing.TB) {
	t.Helper()
	p.update(t, true)
}

func (p *Proxy) update(t testing.TB, enabled bool) {
	t.Helper()
	if err := p.api.call(http.MethodPatch, p.path(""), proxyFields{Enabled: enabled}, nil); err != nil {
		t.Fatalf("toxiproxy: setting proxy %s enabled=%v: %v", p.name, enabled, err)
	}
}

// toxic is a toxic in toxiproxy's API.
type toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float64        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// Latency delays every answer of the server by d, on the connections open now and later: the
// server gets each request at once and its answer reaches the client d later.
func (p *Proxy) Latency(t testing.TB, d time.Duration) {
	t.Helper()
	p.add(t, toxic{Name: "latency", Type: "latency", Stream: "downstream", Toxicity: 1,
		Attributes: map[string]any{"latency": d.Milliseconds()}})
}

// ResetPeer resets every connection (TCP RST) as soon as the server answers on it: the server
// gets the request, the client gets "connection reset by peer" instead of the answer.
func (p *Proxy) ResetPeer(t testing.TB) {
	t.Helper()
	p.add(t, toxic{Name: "reset_peer", Type: "reset_peer", Stream: "downstream", Toxicity: 1,
		Attributes: map[string]any{"timeout": 0}})
}

func (p *Proxy) add(t testing.TB, tx toxic) {
	t.Helper()
	if err := p.api.call(http.MethodPost, p.path("/toxics"), tx, nil); err != nil {
		t.Fatalf("toxiproxy: adding a %s toxic to proxy %s: %v", tx.Type, p.name, err)
	}
}

// Clear removes every toxic from the proxy. It leaves a proxy that is down, down.
func (p *Proxy) Clear(t testing.TB) {
	t.Helper()
	var toxics []toxic
	if err := p.api.call(http.MethodGet, p.path("/toxics"), nil, &toxics); err != nil {
		t.Fatalf("toxiproxy: listing the toxics of proxy %s: %v", p.name, err)
	}
	for _, tx := range toxics {
		if err := p.api.call(http.MethodDelete, p.path("/toxics/"+url.PathEscape(tx.Name)), nil, nil); err != nil {
			t.Fatalf("toxiproxy: removing toxic %s from proxy %s: %v", tx.Name, p.name, err)
		}
	}
}

func (p *Proxy) path(sub string) string { return "/proxies/" + url.PathEscape(p.name) + sub }

// call sends in as JSON and decodes the answer into out, when they are not nil.
func (s *ToxiproxyServer) call(method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := HTTPClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
