module github.com/cachekit/cachekit

go 1.26.0

require (
	github.com/maypok86/otter/v2 v2.4.0
	go.uber.org/goleak v1.3.0
)
