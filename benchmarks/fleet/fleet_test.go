package fleet

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/fleet"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
)

var (
	duration  = flag.Duration("fleet.duration", 2*time.Second, "how long the measured reads of each strategy run, after a second's warm-up")
	instances = flag.Int("fleet.instances", 50, "the size of the fleet")
	jsonOut   = flag.String("fleet.json", "", "write every report, as one JSON array, to `FILE` (for cmd/fleetchart)")
)

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

// A backendSetup returns what opens the fleet's clients of one shared server: base is a
// prefix, or a table name, of the test's own.
type backendSetup func(t *testing.T, base string) func(ctx context.Context, i int) (backend.Store, error)

func redisBackend(t *testing.T, base string) func(context.Context, int) (backend.Store, error) {
	testenv.Redis(t, testenv.RedisURL(), false)
	t.Cleanup(func() {
		s, err := redisstore.Open(testenv.RedisURL(), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Clear(context.Background(), base); err != nil {
			t.Errorf("clearing %s: %v", base, err)
		}
	})
	return func(context.Context, int) (backend.Store, error) {
		return redisstore.Open(testenv.RedisURL(), redisstore.Options{})
	}
}

// dynamoBackend creates a table named after base, deleted when t ends; each instance has a
// client and connections of its own, with strongly consistent reads, which a lease needs to
// see its holder's value as soon as it is written.
func dynamoBackend(t *testing.T, base string) func(context.Context, int) (backend.Store, error) {
	client := testenv.DynamoDB(t)
	table := strings.NewReplacer("#", "-", ":", "").Replace(base)
	opts := dynamostore.Options{Table: table, ConsistentRead: true}
	if _, err := dynamostore.CreateTable(context.Background(), client, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
			t.Errorf("deleting table %s: %v", table, err)
		}
	})
	return func(context.Context, int) (backend.Store, error) {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		own := testenv.DynamoDBOptions(func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: transport} })
		o := opts
		o.OnClose = transport.CloseIdleConnections
		return dynamostore.New(dynamodb.New(own), o)
	}
}

// TestFleet runs every strategy with a fleet on each backend. It checks only what holds
// whatever the timing, and logs the reports and the goals.
func TestFleet(t *testing.T) {
	var (
		mu      sync.Mutex
		reports []*fleet.Report
	)
	for _, be := range []struct {
		name  string
		setup backendSetup
	}{{"redis", redisBackend}, {"dynamodb", dynamoBackend}} {
		t.Run("backend="+be.name, func(t *testing.T) {
			for _, st := range fleet.Strategies() {
				t.Run("strategy="+string(st), func(t *testing.T) {
					// Each strategy starts from an empty prefix, or table, that is removed
					// when it ends, so that no run finds another's entries or pays for them.
					base := testenv.Name("cachekit-fleet")
					rep, err := fleet.Run(t.Context(), fleet.Options{
						Open:      be.setup(t, base),
						Prefix:    base + ":",
						Strategy:  st,
						Instances: *instances,
						Duration:  *duration,
					})
					if err != nil {
						t.Fatal(err)
					}
					rep.Backend = be.name
					mu.Lock()
					reports = append(reports, rep)
					mu.Unlock()
					var out strings.Builder
					if err := rep.Write(&out); err != nil {
						t.Fatal(err)
					}
					t.Logf("\n%s%s", out.String(), goals(rep))
					if rep.Errors != 0 || rep.Wrong != 0 {
						t.Errorf("%d reads failed (the first: %s), %d were served a wrong value", rep.Errors, rep.FirstError, rep.Wrong)
					}
					if rep.Hot.Reads == 0 || rep.Hot.SourceCalls == 0 {
						t.Errorf("the hot key was read %d times, loaded %d times", rep.Hot.Reads, rep.Hot.SourceCalls)
					}
				})
			}
		})
	}
	if *jsonOut != "" {
		data, err := json.MarshalIndent(reports, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonOut, append(data, '\n'), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// goals says, for the goals of docs/freshness.md that apply to the report's strategy, what it
// measured and whether the goal was met. A short run has few expiries: read it as a sketch.
func goals(r *fleet.Report) string {
	var b strings.Builder
	say := func(met bool, format string, args ...any) {
		verdict := "met"
		if !met {
			verdict = "MISSED"
		}
		fmt.Fprintf(&b, "goal %s: %s\n", verdict, fmt.Sprintf(format, args...))
	}
	switch r.Strategy {
	case fleet.Plain:
		say(r.Hot.CallsPerExpiry >= 0.8*float64(r.Instances), "plain loads the hot key about once per instance: %.2f calls per expiry, %d instances", r.Hot.CallsPerExpiry, r.Instances)
	case fleet.Lease, fleet.All:
		say(r.Hot.Expiries > 0 && r.Hot.CallsPerExpiry <= 1.5, "at most 1.5 source calls per expiry of the hot key: %.2f in %d expiries", r.Hot.CallsPerExpiry, r.Hot.Expiries)
	}
	switch r.Strategy {
	case fleet.SWR, fleet.All:
		// A read over half the source's latency that was served an older value waited for a
		// slow backend (DynamoDB Local under load), not for the source.
		say(r.Hot.WaitedForLoad == 0, "no hot-key read waits for the source while a value within its grace exists: %d of %d waited for a load (%d took over half the source's latency)",
			r.Hot.WaitedForLoad, r.Hot.Reads, r.Hot.Waited)
	}
	if r.Strategy == fleet.All {
		say(r.Missing.WithinTTL == 0, "no source call for a missing key within its tombstone's TTL: %d of %d calls", r.Missing.WithinTTL, r.Missing.SourceCalls)
	}
	return b.String()
}
