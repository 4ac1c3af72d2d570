// Command lambda-geo is an AWS Lambda function that says where an IP address is, through
// cachekit: the first lookup of an address goes to a slow source and is cached for a day in
// the backend that the CACHE_* environment variables choose (DynamoDB, Redis or memory), so
// later invocations, in this process or in any other, answer from the cache.
//
// The event is {"ip": "203.0.113.7"}; the response is the location, with "from" saying
// whether it came from the "cache" or the "source". With CACHE_METRICS=emf, every invocation
// ends with one CloudWatch Embedded Metric Format line of the cache's hits, misses and loads.
//
// Build it for the provided.al2023 runtime (the executable must be named bootstrap):
//
//	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -tags lambda.norpc -ldflags="-s -w" -o bootstrap .
//
// docs/lambda.md deploys it and runs it locally, step by step; template.yaml deploys it with
// its table, role, dashboard and alarms as one CloudFormation stack (docs/deploy.md).
package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cacheenv"
)

// Request is the invocation's event.
type Request struct {
	IP string `json:"ip"`
}

// Location is what the source knows of an IP address, and what the cache holds.
type Location struct {
	IP      string  `json:"ip"`
	City    string  `json:"city"`
	Country string  `json:"country"`
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
}

// Response is the location, and where it came from: "cache" or "source".
type Response struct {
	Location
	From string `json:"from"`
}

// geo is built on first use from the CACHE_* environment variables, with no network I/O, so
// it can be declared here: the cache outlives invocations while the execution environment
// is warm, and its clients' connections are reused.
var geo = cachekit.Typed[Location](cacheenv.Default(), "geo:", 24*time.Hour)

func handle(ctx context.Context, req Request) (Response, error) {
	// Lambda freezes the process between invocations: write this invocation's metrics now.
	defer cacheenv.Default().Flush()

	addr, err := netip.ParseAddr(req.IP)
	if err != nil {
		return Response{}, fmt.Errorf("lambda-geo: %q is not an IP address", req.IP)
	}
	from := "cache"
	loc, err := geo.GetOrLoad(ctx, addr.String(), func(ctx context.Context, ip string) (Location, error) {
		from = "source" // read below only once GetOrLoad has returned the loaded value
		return lookup(ctx, ip)
	})
	if err != nil {
		return Response{}, err
	}
	return Response{Location: loc, From: from}, nil
}

func main() {
	lambda.Start(handle)
}

// cities is the fake source's whole world.
var cities = []Location{
	{City: "Sydney", Country: "AU", Lat: -33.87, Lon: 151.21},
	{City: "Dublin", Country: "IE", Lat: 53.35, Lon: -6.26},
	{City: "São Paulo", Country: "BR", Lat: -23.55, Lon: -46.63},
	{City: "Tokyo", Country: "JP", Lat: 35.68, Lon: 139.69},
	{City: "Seattle", Country: "US", Lat: 47.61, Lon: -122.33},
}

// lookup stands for the slow source of truth, such as a geolocation API: it takes 150ms, and
// always gives an address the same location.
func lookup(ctx context.Context, ip string) (Location, error) {
	select {
	case <-time.After(150 * time.Millisecond):
	case <-ctx.Done():
		return Location{}, ctx.Err()
	}
	h := fnv.New32a()
	h.Write([]byte(ip))
	loc := cities[h.Sum32()%uint32(len(cities))]
	loc.IP = ip
	return loc, nil
}
