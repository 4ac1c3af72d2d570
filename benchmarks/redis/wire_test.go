package redis

import (
	"net"
	"testing"

	"github.com/cachekit/cachekit/benchmarks/internal/wirecount"
)

// wire counts what one client sends to Redis (see wirecount.Counter); these benchmarks report
// its writes and commands per operation.
type wire struct{ wirecount.Counter }

func (w *wire) read() wirecount.Counts   { return w.Read() }
func (w *wire) wrap(c net.Conn) net.Conn { return w.Wrap(c) }

// report adds to b the writes and commands per operation since before.
func (w *wire) report(b *testing.B, before wirecount.Counts) {
	now := w.read()
	b.ReportMetric(float64(now.Writes-before.Writes)/float64(b.N), "writes/op")
	b.ReportMetric(float64(now.Commands-before.Commands)/float64(b.N), "cmds/op")
}
