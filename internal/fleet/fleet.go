package fleet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/tiered"
)

// Defaults for the zero fields of Options.
const (
	DefaultInstances     = 50
	DefaultDuration      = 10 * time.Second
	DefaultWarmup        = time.Second
	DefaultSourceLatency = 200 * time.Millisecond
	DefaultHotTTL        = time.Second
	DefaultTTL           = time.Minute
	DefaultMissTTL       = 10 * time.Second
	DefaultKeys          = 10_000
	DefaultZipf          = 1.1
	DefaultReaders       = 1
	DefaultThink         = 20 * time.Millisecond
	DefaultMissingShare  = 0.05
	DefaultMissingKeys   = 100
	DefaultBucket        = 50 * time.Millisecond
	DefaultBefore        = 500 * time.Millisecond
	DefaultAfter         = time.Second
)

// Options configures a Run. The zero value of each field but Open and Prefix means its
// documented default.
type Options struct {
	// Open opens instance i's own client of the shared backend; the instance's Cache owns
	// it and closes it. Required.
	Open func(ctx context.Context, i int) (backend.Store, error)
	// Prefix is every instance's cachekit.Options.Prefix: one of the run's own, so that
	// nothing from another run is found (a run leaves its entries behind). Required.
	Prefix string
	// Strategy is the Freshness of every view. Zero means All.
	Strategy Strategy
	// Instances is the size of the fleet. Zero means DefaultInstances.
	Instances int
	// Duration is how long the measured reads run, after Warmup. Zero means DefaultDuration.
	Duration time.Duration
	// Warmup is how long the fleet reads before the measured reads start, so that they do
	// not include the first fill of the hot key. Zero means DefaultWarmup; negative, none.
	Warmup time.Duration
	// SourceLatency is how long every call of the source takes. Zero means
	// DefaultSourceLatency.
	SourceLatency time.Duration
	// HotTTL is the TTL of the hot key, which every instance reads. Zero means DefaultHotTTL.
	HotTTL time.Duration
	// TTL is the TTL of the Zipf keys. Zero means DefaultTTL.
	TTL time.Duration
	// MissTTL is how long All remembers a missing key (Freshness.MissTTL), and the window in
	// which a repeated source call for one counts as one a tombstone would have saved, for
	// every strategy. Zero means DefaultMissTTL.
	MissTTL time.Duration
	// Keys is how many keys the Zipf reads draw from. Zero means DefaultKeys.
	Keys int
	// Zipf is the skew of the Zipf distribution, over 1. Zero means DefaultZipf.
	Zipf float64
	// Readers is how many goroutines of each instance read the Zipf keys and the missing
	// keys; one more reads the hot key alone. Zero means DefaultReaders.
	Readers int
	// Think is the pause between a reader's reads, give or take half. Zero means
	// DefaultThink.
	Think time.Duration
	// MissingShare is the share of the Zipf readers' reads that read a key the source lacks.
	// Zero means DefaultMissingShare; negative, none.
	MissingShare float64
	// MissingKeys is how many keys the source lacks, read uniformly. Zero means
	// DefaultMissingKeys.
	MissingKeys int
	// L1 configures each instance's in-memory tier.
	L1 tiered.Options
	// Bucket is the width of a bucket of the time series. Zero means DefaultBucket.
	Bucket time.Duration
	// Before and After bound the time series around each expiry of the hot key. Zero means
	// DefaultBefore and DefaultAfter.
	Before, After time.Duration
}

// withDefaults returns o with every zero field set to its default, or why o cannot run.
func (o Options) withDefaults() (Options, error) {
	if o.Open == nil {
		return o, fmt.Errorf("fleet: Options.Open is nil: %w", backend.ErrConfig)
	}
	if err := cachekit.CheckPrefix(o.Prefix); o.Prefix == "" || err != nil {
		return o, fmt.Errorf("fleet: Options.Prefix %q: want a prefix of the run's own: %w", o.Prefix, backend.ErrConfig)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	o.Strategy = Strategy(cmpOr(string(o.Strategy), string(All)))
	if _, err := ParseStrategy(string(o.Strategy)); err != nil {
		return o, fmt.Errorf("%w: %w", err, backend.ErrConfig)
	}
	o.Instances = cmpOr(o.Instances, DefaultInstances)
	def(&o.Duration, DefaultDuration)
	def(&o.Warmup, DefaultWarmup)
	o.Warmup = max(o.Warmup, 0)
	def(&o.SourceLatency, DefaultSourceLatency)
	def(&o.HotTTL, DefaultHotTTL)
	def(&o.TTL, DefaultTTL)
	def(&o.MissTTL, DefaultMissTTL)
	o.Keys = cmpOr(o.Keys, DefaultKeys)
	o.Zipf = cmpOr(o.Zipf, DefaultZipf)
	o.Readers = cmpOr(o.Readers, DefaultReaders)
	def(&o.Think, DefaultThink)
	o.MissingShare = cmpOr(o.MissingShare, DefaultMissingShare)
	o.MissingShare = max(o.MissingShare, 0)
	o.MissingKeys = cmpOr(o.MissingKeys, DefaultMissingKeys)
	def(&o.Bucket, DefaultBucket)
	def(&o.Before, DefaultBefore)
	def(&o.After, DefaultAfter)
	switch {
	case o.Instances < 1, o.Keys < 2, o.Readers < 1, o.MissingKeys < 1:
		return o, fmt.Errorf("fleet: Options: Instances %d, Keys %d, Readers %d and MissingKeys %d: want Keys at least 2, the others at least 1: %w",
			o.Instances, o.Keys, o.Readers, o.MissingKeys, backend.ErrConfig)
	case o.Duration < 0, o.SourceLatency < 0, o.HotTTL < 0, o.TTL < 0, o.MissTTL < 0, o.Think < 0, o.Bucket < 0, o.Before < 0, o.After < 0:
		return o, fmt.Errorf("fleet: Options: a negative duration: %w", backend.ErrConfig)
	case !(o.Zipf > 1) || math.IsInf(o.Zipf, 0):
		return o, fmt.Errorf("fleet: Options.Zipf %v: want a skew over 1: %w", o.Zipf, backend.ErrConfig)
	case o.MissingShare > 1:
		return o, fmt.Errorf("fleet: Options.MissingShare %v: want a share from 0 to 1: %w", o.MissingShare, backend.ErrConfig)
	}
	return o, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// instance is one member of the fleet: a Cache over its own L1 and its own client of the
// backend, and the two views its readers read through.
type instance struct {
	cache *cachekit.Cache
	tier  *tiered.Store
	hot   *cachekit.View[Value] // the hot key, with HotTTL
	keys  *cachekit.View[Value] // the Zipf keys and the missing keys, with TTL
}

// open opens instance i.
func (o *Options) open(ctx context.Context, i int) (*instance, error) {
	s, err := o.Open(ctx, i)
	if err != nil {
		return nil, fmt.Errorf("fleet: opening instance %d: %w", i, err)
	}
	tier, err := tiered.New(s, o.L1)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("fleet: instance %d: %w", i, err)
	}
	c, err := cachekit.New(tier, cachekit.Options{Prefix: o.Prefix, TTL: o.TTL, Background: true})
	if err != nil {
		tier.Close()
		return nil, fmt.Errorf("fleet: instance %d: %w", i, err)
	}
	return &instance{
		cache: c,
		tier:  tier,
		hot:   cachekit.Typed[Value](c, "hot:", o.HotTTL).With(o.Strategy.Freshness(o.HotTTL, o.MissTTL)),
		keys:  cachekit.Typed[Value](c, "key:", o.TTL).With(o.Strategy.Freshness(o.TTL, o.MissTTL)),
	}, nil
}

// Run runs the fleet o describes for o.Warmup then o.Duration, or until ctx ends, and returns
// what it measured. It fails only when an instance cannot be opened or o cannot run; the
// errors of reads are counted in the Report.
func Run(ctx context.Context, o Options) (*Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	fleet := make([]*instance, 0, o.Instances)
	closeAll := func() error {
		var errs []error
		for _, in := range fleet {
			errs = append(errs, in.cache.Close())
		}
		return errors.Join(errs...)
	}
	for i := range o.Instances {
		in, err := o.open(ctx, i)
		if err != nil {
			return nil, errors.Join(err, closeAll())
		}
		fleet = append(fleet, in)
	}

	t0 := time.Now()
	src := newSource(o.SourceLatency, t0)
	stop, cancel := context.WithTimeout(ctx, o.Warmup+o.Duration)
	defer cancel()
	// Reads run on a context that the end of the run does not cancel, so that the last read of
	// each reader completes rather than failing.
	readCtx := context.WithoutCancel(ctx)
	readers := make([]*reader, 0, o.Instances*o.Readers)
	var wg sync.WaitGroup
	for _, in := range fleet {
		for i := range o.Readers + 1 {
			r := &reader{o: &o, in: in, src: src, t0: t0, hot: i == 0, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
			readers = append(readers, r)
			wg.Go(func() { r.run(stop, readCtx) })
		}
	}
	wg.Wait()
	elapsed := time.Since(t0)

	var counters []cachekit.Stats
	var tiers []tiered.Stats
	for _, in := range fleet {
		counters = append(counters, in.cache.Counters())
		tiers = append(tiers, in.tier.Stats())
	}
	calls := src.snapshot(elapsed)
	if err := closeAll(); err != nil {
		return nil, fmt.Errorf("fleet: closing the instances: %w", err)
	}
	rep := o.report(readers, calls, counters, tiers, elapsed)
	rep.Interrupted = ctx.Err() != nil
	return rep, nil
}

// What a read read.
const (
	readHot = iota
	readKey
	readMissing
)

// read is one read, as a reader recorded it.
type read struct {
	kind  uint8
	at    time.Duration // its start, from the start of the run
	took  time.Duration
	stale time.Duration // how long past its TTL the value served was; zero when fresh
	load  bool          // the value served was loaded after the read began
}

// reader is one goroutine of an instance, reading until the run ends, and what it saw.
//
// The hot key's reader starts each read on a goroutine of its own, every Think or so whether
// the last read has returned or not, as requests arrive at a service: a read that waits for
// the source holds up no later one, and the time series shows what a request arriving at each
// moment waits. The other readers read one read after the other.
type reader struct {
	o   *Options
	in  *instance
	src *source
	t0  time.Time
	hot bool // it reads the hot key, else the Zipf keys and the missing keys
	rng *rand.Rand

	mu       sync.Mutex // guards what follows, which the hot key's reads append to
	reads    []read
	errors   int
	wrong    int // reads served another key's value, or a value for a key the source lacks
	firstErr error
}

func (r *reader) run(stop, ctx context.Context) {
	o := r.o
	zipf := rand.NewZipf(r.rng, o.Zipf, 1, uint64(o.Keys-1))
	pause := time.NewTimer(0)
	defer pause.Stop()
	var reads sync.WaitGroup
	defer reads.Wait()
	for {
		select {
		case <-stop.Done():
			return
		case <-pause.C:
		}
		// Readers pause for Think, give or take half, so that the fleet reads out of step.
		pause.Reset(o.Think/2 + time.Duration(r.rng.Int64N(int64(o.Think)+1)))
		switch {
		case r.hot:
			reads.Go(func() { r.read(ctx, readHot, hotKey, r.in.hot, o.HotTTL) })
		case r.rng.Float64() < o.MissingShare:
			r.read(ctx, readMissing, missPrefix+strconv.Itoa(r.rng.IntN(o.MissingKeys)), r.in.keys, o.TTL)
		default:
			r.read(ctx, readKey, keyPrefix+strconv.FormatUint(zipf.Uint64(), 10), r.in.keys, o.TTL)
		}
	}
}

// read reads key through view, whose values live ttl, and records what it saw.
func (r *reader) read(ctx context.Context, kind uint8, key string, view *cachekit.View[Value], ttl time.Duration) {
	start := time.Now()
	v, err := view.GetOrLoad(ctx, key, r.src.load)
	end := time.Now()
	rd := read{kind: kind, at: start.Sub(r.t0), took: end.Sub(start)}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case kind == readMissing && errors.Is(err, cachekit.ErrNotFound):
	case err != nil:
		r.errors++
		if r.firstErr == nil {
			r.firstErr = err
		}
	case kind == readMissing || v.Key != key:
		r.wrong++
	default:
		rd.stale = max(end.Sub(time.Unix(0, v.LoadedAt).Add(ttl)), 0)
		rd.load = v.LoadedAt > start.UnixNano()
	}
	r.reads = append(r.reads, rd)
}
