package cachekit_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportGraph holds the packages to their layers (see ARCHITECTURE.md): the root links
// no backend and no SDK, the stores and the decorators build on the contract alone, and only
// cacheenv (the environment's wiring, on top), the commands and the examples import every
// backend.
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/aws/", "github.com/redis/", "github.com/maypok86/otter", "go.opentelemetry.io/",
			"github.com/klauspost/", "github.com/cachekit/cachekit/compress",
			"github.com/cachekit/cachekit/memstore", "github.com/cachekit/cachekit/dynamostore",
			"github.com/cachekit/cachekit/redisstore", "github.com/cachekit/cachekit/tiered",
			"github.com/cachekit/cachekit/cacheenv", "github.com/cachekit/cachekit/monitor",
			"github.com/cachekit/cachekit/emf", "github.com/cachekit/cachekit/otelcache",
		} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("the root package links %s: a program on one backend would pay for it", dep)
			}
		}
	}

	out, err = exec.Command("go", "list", "-f", "{{.ImportPath}}:{{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/cachekit/cachekit"
	// What each library package may import of the module; a package not listed may import
	// anything (commands, examples, test kits).
	allowed := map[string][]string{
		"backend":     {},
		"memstore":    {"backend"},
		"dynamostore": {"backend"},
		"redisstore":  {"backend"},
		// Decorators build on the contract, never on one another; tiered's L1 is a memstore.
		"resilient": {"backend"},
		"tiered":    {"backend", "memstore"},
		// Plug-ins build on the root's interfaces (HealthCheck, Recorder), never the reverse.
		"monitor":   {"", "backend"},
		"emf":       {"", "backend"},
		"otelcache": {"", "backend"},
		// The rate limiter builds on the contract's abilities and the root's prefix rule,
		// never on a store: the caller passes the Store.
		"ratelimit": {"", "backend"},
		// A codec wraps the root's Codec and needs nothing else of the module.
		"compress": {""},
		// A codec is a plug-in of the root's Codec interface.
		"msgpack":   {""},
		"":          {"backend"},
		"cachetest": {"backend"},
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, mod), "/")
		may, ruled := allowed[rel]
		if !ruled {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			dep, ours := strings.CutPrefix(imp, mod+"/")
			if !ours || strings.HasPrefix(dep, "internal/") {
				continue
			}
			if !slices.Contains(may, dep) {
				t.Errorf("%s imports %s; it may import only %v of the module", rel, dep, may)
			}
		}
	}
}
