package dynamostore

import (
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit/backend"
)

// envelopeHeader is the size of a backend.Envelope's header, the bytes before its value.
const envelopeHeader = 17

// The names in the fresh attribute's map.
const (
	freshUntil    = "until"    // N: Unix epoch milliseconds at which the value stops being fresh
	freshLoadMs   = "loadMs"   // N: the last load's duration, milliseconds
	freshNotFound = "notFound" // BOOL, only when true: a tombstone
)

// freshAttribute is the fresh attribute of env: everything of it but its value, in a map that
// other services read by name.
func freshAttribute(env backend.Envelope) types.AttributeValue {
	m := map[string]types.AttributeValue{
		freshUntil:  number(env.FreshUntil.UnixMilli()),
		freshLoadMs: number(min(max(env.LoadTime.Milliseconds(), 0), math.MaxUint32)),
	}
	if env.NotFound {
		m[freshNotFound] = &types.AttributeValueMemberBOOL{Value: true}
	}
	return &types.AttributeValueMemberM{Value: m}
}

// parseFresh reads a fresh attribute into an envelope without its value, and reports whether
// the attribute was well formed: a map with until and loadMs numbers in the envelope's ranges,
// and notFound, when present, a BOOL. Names it does not know are left aside.
func parseFresh(v types.AttributeValue) (backend.Envelope, bool) {
	m, ok := v.(*types.AttributeValueMemberM)
	if !ok {
		return backend.Envelope{}, false
	}
	until, ok1 := m.Value[freshUntil].(*types.AttributeValueMemberN)
	load, ok2 := m.Value[freshLoadMs].(*types.AttributeValueMemberN)
	if !ok1 || !ok2 {
		return backend.Envelope{}, false
	}
	ms, err1 := strconv.ParseInt(until.Value, 10, 64)
	loadMs, err2 := strconv.ParseUint(load.Value, 10, 32)
	if err1 != nil || err2 != nil {
		return backend.Envelope{}, false
	}
	env := backend.Envelope{FreshUntil: time.UnixMilli(ms), LoadTime: time.Duration(loadMs) * time.Millisecond}
	if nf, ok := m.Value[freshNotFound]; ok {
		b, ok := nf.(*types.AttributeValueMemberBOOL)
		if !ok {
			return backend.Envelope{}, false
		}
		env.NotFound = b.Value
	}
	return env, true
}
