package cachekit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cacheenv"
)

// Built on first use from the CACHE_* environment variables; no I/O happens here.
var geoCache = cachekit.Typed[GeoInfo](cacheenv.Default(), "geo:", 24*time.Hour)

func handler(ctx context.Context, ip string) (GeoInfo, error) {
	// A hit comes from the cache; a miss runs the loader once per key per process, stores it.
	return geoCache.GetOrLoad(ctx, ip, lookupGeo)
}

// The quickstart: a typed view of the process-wide cache, and GetOrLoad in a handler.
func Example() {
	ctx := context.Background()
	for range 2 { // the first call loads, the second is a hit
		info, err := handler(ctx, "1.1.1.1")
		if err != nil {
			panic(err)
		}
		fmt.Println(info.City, info.Country)
	}
	st, _ := geoCache.Stats(ctx)
	fmt.Printf("hits %d, misses %d, loads %d, keys %d\n", st.Hits, st.Misses, st.Loads, st.Keys)
	// Output:
	// loading 1.1.1.1
	// Sydney AU
	// Sydney AU
	// hits 1, misses 1, loads 1, keys 1
}

type GeoInfo struct {
	City    string `json:"city"`
	Country string `json:"country"`
}

// lookupGeo stands for the slow source of truth, such as a geolocation API.
func lookupGeo(ctx context.Context, ip string) (GeoInfo, error) {
	fmt.Println("loading", ip)
	return GeoInfo{City: "Sydney", Country: "AU"}, nil
}
