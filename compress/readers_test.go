package compress_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/compress"
	"github.com/cachekit/cachekit/internal/apidata"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
)

// stored is one value as a Store holds it, and the JSON it stands for.
type stored struct {
	name       string
	data, json []byte
}

// storedValues writes JSON through Caches with the compress codec, of either algorithm, on
// views with and without freshness options, and returns the bytes the Store holds: the
// values a service in another language reads.
func storedValues(t *testing.T) []stored {
	t.Helper()
	ctx := context.Background()
	s, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	large, small := apidata.Response(20<<10, 9), apidata.Response(300, 9)
	var out []stored
	for _, alg := range []compress.Algorithm{compress.Zstd, compress.S2} {
		c, err := cachekit.New(s, cachekit.Options{Prefix: alg.String() + ":", Codec: mustNew(t, nil, compress.Options{Algorithm: alg})})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		for _, v := range []*cachekit.View[json.RawMessage]{
			cachekit.Typed[json.RawMessage](c, "plain:", time.Minute),
			cachekit.Typed[json.RawMessage](c, "fresh:", time.Minute).With(cachekit.Freshness{Grace: time.Minute}),
		} {
			for name, value := range map[string][]byte{"large": large, "small": small} {
				if err := v.Set(ctx, name, value, 0); err != nil {
					t.Fatal(err)
				}
				data, err := s.Get(ctx, v.Prefix()+name)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, stored{v.Prefix() + name, data, value})
			}
		}
	}
	return out
}

// TestZstdCLIReads: the zstd command decompresses a stored zstd value once the envelope, if
// any, and the header are stripped, as docs/compression.md shows.
func TestZstdCLIReads(t *testing.T) {
	zstdCmd, err := exec.LookPath("zstd")
	if err != nil {
		testenv.Missing(t, "the zstd command (apt-get install zstd)", err)
	}
	for _, v := range storedValues(t) {
		if !strings.HasPrefix(v.name, "zstd:") || !strings.HasSuffix(v.name, "large") {
			continue
		}
		frame := v.data
		if env, ok := backend.ParseEnvelope(frame); ok {
			frame = env.Value
		}
		if !compress.IsCompressed(frame) {
			t.Fatalf("%s is not compressed", v.name)
		}
		cmd := exec.Command(zstdCmd, "-d", "-c", "-q")
		cmd.Stdin = bytes.NewReader(frame[5:])
		got, err := cmd.Output()
		if err != nil || !bytes.Equal(got, v.json) {
			t.Errorf("%s: zstd -d = %d bytes, %v; want the %d bytes of JSON", v.name, len(got), err, len(v.json))
		}
	}
}

// TestPythonReads runs the Python reader of docs/compression.md on every stored value.
func TestPythonReads(t *testing.T) {
	python := ""
	var missing error
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if missing = exec.Command(p, "-c", "import snappy, zstandard").Run(); missing == nil {
			python = p
			break
		}
	}
	if python == "" {
		testenv.Missing(t, "python3 with zstandard and snappy (apt-get install python3-zstandard python3-snappy)", missing)
	}
	runReader(t, "python", python)
}

// TestNodeReads runs the Node reader of docs/compression.md on every stored value, with the
// npm packages fzstd and snappyjs where scripts/test installs them (nodePath).
func TestNodeReads(t *testing.T) {
	node, err := exec.LookPath("node")
	if err == nil {
		cmd := exec.Command(node, "-e", `require("fzstd"); require("snappyjs")`)
		cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath())
		if out, rerr := cmd.CombinedOutput(); rerr != nil {
			err = fmt.Errorf("%v: %s", rerr, out)
		}
	}
	if err != nil {
		testenv.Missing(t, "node with the npm packages fzstd and snappyjs in "+nodePath(), err)
	}
	runReader(t, "js", node)
}

// nodePath is where the Node reader finds its npm packages: CACHEKIT_NODE_PATH, or where
// scripts/test installs them, node-readers/node_modules in CACHEKIT_CACHE_DIR
// (~/.cache/cachekit).
func nodePath() string {
	if p := os.Getenv("CACHEKIT_NODE_PATH"); p != "" {
		return p
	}
	dir := os.Getenv("CACHEKIT_CACHE_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "cachekit")
	}
	return filepath.Join(dir, "node-readers", "node_modules")
}

// runReader runs the page's first code block of the given language, as a program, on each
// stored value, and compares what it prints with the JSON.
func runReader(t *testing.T, lang, interpreter string) {
	t.Helper()
	program := filepath.Join(t.TempDir(), "reader."+lang)
	if err := os.WriteFile(program, []byte(snippet(t, "../docs/compression.md", lang)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range storedValues(t) {
		cmd := exec.Command(interpreter, program)
		cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath())
		cmd.Stdin = bytes.NewReader(v.data)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		got, err := cmd.Output()
		if err != nil || !bytes.Equal(got, v.json) {
			t.Errorf("%s: the %s reader printed %d bytes, %v %s; want the %d bytes of JSON", v.name, lang, len(got), err, stderr.String(), len(v.json))
		}
	}
}

// snippet returns the first fenced code block of the page whose info string is lang.
func snippet(t *testing.T, page, lang string) string {
	t.Helper()
	f, err := os.Open(page)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		switch {
		case !in && line == "```"+lang:
			in = true
		case in && line == "```":
			return b.String()
		case in:
			b.WriteString(line + "\n")
		}
	}
	t.Fatalf("%s has no ```%s block", page, lang)
	return ""
}
