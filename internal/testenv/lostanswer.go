package testenv

import (
	"context"
	"sync/atomic"

	"github.com/redis/rueidis"
)

// LostAnswer is a real Redis client whose At-th pipeline (counting from 1) reaches the server
// and is applied, but whose answers are lost, as on a connection that breaks after the
// request went out: the caller gets the errors the client gives for a call cut short. Reset
// starts the count again.
type LostAnswer struct {
	rueidis.Client
	At int32
	n  atomic.Int32
}

// Reset makes the next pipeline the first again.
func (l *LostAnswer) Reset() { l.n.Store(0) }

// DoMulti sends cmds, and loses the answers of the At-th call.
func (l *LostAnswer) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	res := l.Client.DoMulti(ctx, cmds...)
	if l.n.Add(1) != l.At {
		return res
	}
	cut, cancel := context.WithCancel(ctx)
	cancel()
	lost := make(rueidis.Commands, len(cmds))
	for i := range cmds {
		lost[i] = l.Client.B().Ping().Build()
	}
	return l.Client.DoMulti(cut, lost...) // the client's own error for each: the call ended
}
