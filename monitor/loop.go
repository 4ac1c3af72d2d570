package monitor

import (
	"context"
	"sync"
	"time"
)

// loop runs a function on an interval on a goroutine of its own, from start until stop.
// A zero loop is ready to use; it is safe for concurrent use.
type loop struct {
	mu   sync.Mutex
	stop chan struct{} // closed by halt; nil while no goroutine runs
	done chan struct{} // closed when the goroutine has returned
}

// start runs fn every interval until halt, with a context that halt cancels, so that a run
// under way ends with it. A second start while running does nothing.
func (l *loop) start(interval time.Duration, fn func(ctx context.Context)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != nil {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	l.stop, l.done = stop, done
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-stop
		cancel()
	}()
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fn(ctx)
			}
		}
	}()
}

// halt stops the goroutine and waits for it to return. It is idempotent.
func (l *loop) halt() {
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.stop = nil
	l.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}
