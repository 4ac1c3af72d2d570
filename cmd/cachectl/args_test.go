package main

import (
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
)

func TestParseArgs(t *testing.T) {
	type values struct {
		json bool
		ttl  time.Duration
		name string
	}
	tests := []struct {
		name    string
		args    []string
		wantPos []string
		want    values
		help    bool
		wantErr string
	}{
		{name: "none", args: nil},
		{name: "positional only", args: []string{"set", "k", "1"}, wantPos: []string{"set", "k", "1"}},
		{name: "flags before", args: []string{"--json", "--ttl", "5m", "get", "k"},
			wantPos: []string{"get", "k"}, want: values{json: true, ttl: 5 * time.Minute}},
		{name: "flags after", args: []string{"set", "k", `{"a":1}`, "--ttl", "5m", "--json"},
			wantPos: []string{"set", "k", `{"a":1}`}, want: values{json: true, ttl: 5 * time.Minute}},
		{name: "flags between", args: []string{"set", "--name=x", "k", "-ttl=300", "1"},
			wantPos: []string{"set", "k", "1"}, want: values{name: "x", ttl: 5 * time.Minute}},
		{name: "single dash", args: []string{"-json", "-name", "y", "get"},
			wantPos: []string{"get"}, want: values{json: true, name: "y"}},
		{name: "bool with value", args: []string{"--json=false", "get"}, wantPos: []string{"get"}},
		{name: "negative numbers are positional", args: []string{"expire", "k", "-5s", "-1", "-.5"},
			wantPos: []string{"expire", "k", "-5s", "-1", "-.5"}},
		{name: "a lone dash is positional", args: []string{"get", "-"}, wantPos: []string{"get", "-"}},
		{name: "double dash ends flags", args: []string{"set", "--json", "--", "--ttl", "-x"},
			wantPos: []string{"set", "--ttl", "-x"}, want: values{json: true}},
		{name: "help", args: []string{"get", "-h"}, wantPos: []string{"get"}, help: true},
		{name: "long help", args: []string{"--help"}, help: true},
		{name: "unknown flag", args: []string{"get", "--nope"}, wantErr: "unknown flag --nope"},
		{name: "missing value", args: []string{"get", "--ttl"}, wantErr: "flag --ttl needs a value"},
		{name: "bad value", args: []string{"--ttl", "soon"}, wantErr: `invalid value "soon" for flag --ttl`},
		{name: "bad bool", args: []string{"--json=maybe"}, wantErr: `invalid value "maybe" for flag --json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got values
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.BoolVar(&got.json, "json", false, "")
			fs.Var(ttlValue{&got.ttl}, "ttl", "")
			fs.StringVar(&got.name, "name", "", "")
			p, err := parseArgs(fs, tt.args)
			if tt.wantErr != "" {
				var usage *usageError
				if !errors.As(err, &usage) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.positional, tt.wantPos) {
				t.Errorf("positional = %q, want %q", p.positional, tt.wantPos)
			}
			if got != tt.want {
				t.Errorf("flags = %+v, want %+v", got, tt.want)
			}
			if p.help != tt.help {
				t.Errorf("help = %v, want %v", p.help, tt.help)
			}
		})
	}
}

func TestParseTTL(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration // zero: an error
	}{
		{"90s", 90 * time.Second},
		{"24h", 24 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{"300", 300 * time.Second},
		{" 5m ", 5 * time.Minute},
		{"0", 0},
		{"0s", 0},
		{"-5s", 0},
		{"-1", 0},
		{"soon", 0},
		{"", 0},
		{"5 m", 0},
		{"87600h1s", 0}, // over MaxTTL
		{"999999999999", 0},
	}
	for _, tt := range tests {
		got, err := parseTTL(tt.in)
		if tt.want == 0 {
			if err == nil {
				t.Errorf("parseTTL(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseTTL(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if d, err := parseTTL(cachekit.MaxTTL.String()); err != nil || d != cachekit.MaxTTL {
		t.Errorf("parseTTL(MaxTTL) = %v, %v", d, err)
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{exitStatus(exitMiss), exitMiss},
		{usagef("bad"), exitUsage},
		{cachekit.ErrNotFound, exitMiss},
		{errors.Join(errors.New("mget"), cachekit.ErrNotFound), exitMiss},
		{cachekit.ErrConfig, exitUsage},
		{cachekit.ErrInvalidKey, exitUsage},
		{cachekit.ErrInvalidTTL, exitUsage},
		{cachekit.ErrValueTooLarge, exitUsage},
		{cachekit.ErrClosed, exitBackend},
		{cachekit.ErrDecode, exitBackend},
		{errors.New("connection refused"), exitBackend},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
