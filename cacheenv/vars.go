package cacheenv

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/resilient"
	"github.com/cachekit/cachekit/tiered"
)

// Variable is one environment variable that Load reads: its name, what it sets and what an
// unset variable means. Variables is the one list of them; cachectl's help and the table in
// docs/configuration.md are made from it, and a test holds that page to it.
type Variable struct {
	// Name is the variable's name, such as CACHE_STORAGE_TYPE.
	Name string
	// Doc says what the variable sets, in one line; `code` is marked as in Markdown.
	Doc string
	// Default is what an unset or empty variable means.
	Default string

	// set parses a non-empty, trimmed value into cfg, or says what was wanted instead.
	set func(cfg *Config, value string) error
}

// Variables returns every variable Load reads, in the order the docs list them.
func Variables() []Variable { return append([]Variable(nil), variables...) }

var variables = []Variable{
	{VarStorageType, "`memory`, `dynamodb` or `redis`", "`dynamodb` when `CACHE_TABLE_NAME` is set, else `redis` when `CACHE_REDIS_URL` is, else `memory`",
		text(func(c *Config) *string { return &c.StorageType }, strings.ToLower)},
	{VarKeyPrefix, "prefix of every key; it ends with one of `" + cachekit.PrefixSeparators + "`", code(cachekit.DefaultPrefix),
		text(func(c *Config) *string { return &c.KeyPrefix }, nil)},
	{VarDefaultTTL, "TTL of writes that give none: a Go duration (`24h`) or seconds (`300`)", code(short(cachekit.DefaultTTL)),
		positive(func(c *Config) *time.Duration { return &c.DefaultTTL }, "5m or 300")},
	{VarMemoryMaxSize, "most entries the in-memory store holds", code(memstore.DefaultMaxSize),
		count(func(c *Config) *int { return &c.MemoryMaxSize })},
	{VarMemoryCleanupInterval, "how often expired entries are swept from memory (the memory backend, an L1): a duration or seconds; `0` turns the sweep off", code(short(cachekit.DefaultCleanupInterval)),
		interval(func(c *Config) *time.Duration { return &c.MemoryCleanupInterval })},
	{VarTableName, "the DynamoDB table; set alone, it selects `dynamodb`", "none",
		text(func(c *Config) *string { return &c.TableName }, nil)},
	{VarDynamoDBEndpoint, "another DynamoDB endpoint, such as DynamoDB Local's (`AWS_ENDPOINT_URL_DYNAMODB` works too)", "AWS's",
		text(func(c *Config) *string { return &c.DynamoDBEndpoint }, nil)},
	{VarDynamoDBPartitionKey, "the table's partition key attribute", "`PK`",
		text(func(c *Config) *string { return &c.DynamoDBPartitionKey }, nil)},
	{VarDynamoDBSortKey, "a single-table design's sort key attribute", "none",
		text(func(c *Config) *string { return &c.DynamoDBSortKey }, nil)},
	{VarDynamoDBSortKeyValue, "the constant cache items carry in that sort key", "none",
		text(func(c *Config) *string { return &c.DynamoDBSortKeyValue }, nil)},
	{VarDynamoDBConsistent, "`true` for strongly consistent reads", "`false`",
		boolean(func(c *Config) *bool { return &c.DynamoDBConsistentRead })},
	{VarRedisURL, "the Redis server or cluster: `redis://[user:password@]host:port[/db]`, `rediss://` for TLS, `?addr=` for more cluster seeds; set alone, it selects `redis`", "none",
		text(func(c *Config) *string { return &c.RedisURL }, nil)},
	{VarL1MaxSize, "puts an in-memory tier of that many entries in front of a remote backend (`tiered`)", "none",
		count(func(c *Config) *int { return &c.L1MaxSize })},
	{VarL1TTL, "caps an L1 copy's life, and so its staleness across instances; set alone, it turns L1 on", code(short(tiered.DefaultMaxTTL)),
		positive(func(c *Config) *time.Duration { return &c.L1TTL }, "500ms or 10s")},
	{VarFallbackStorageType, "a second backend to serve while the first is down, e.g. `redis` with a `dynamodb` fallback", "none",
		text(func(c *Config) *string { return &c.FallbackStorageType }, strings.ToLower)},
	{VarBreaker, "`off` leaves a remote backend without its circuit breaker (a fallback needs it)", "`on`",
		func(c *Config, v string) error {
			switch strings.ToLower(v) {
			case "on", "true", "1":
				c.DisableBreaker = false
			case "off", "false", "0":
				c.DisableBreaker = true
			default:
				return wanted("on or off")
			}
			return nil
		}},
	{VarOpTimeout, "bound of every call to a remote backend", code(short(resilient.DefaultOpTimeout)),
		positive(func(c *Config) *time.Duration { return &c.OpTimeout }, "500ms or 10s")},
	{VarBreakerFailures, "failures in a row that open the breaker", code(resilient.DefaultFailureThreshold),
		count(func(c *Config) *int { return &c.BreakerFailures })},
	{VarBreakerOpenTimeout, "how long the breaker stays open before it probes again", code(short(resilient.DefaultOpenTimeout)),
		positive(func(c *Config) *time.Duration { return &c.BreakerOpenTimeout }, "500ms or 10s")},
	{VarHealthCheckInterval, "how often a remote backend's health is checked with a probe key; `0` turns checks off", code(short(cachekit.DefaultHealthInterval)),
		interval(func(c *Config) *time.Duration { return &c.HealthCheckInterval })},
	{VarMetrics, "`emf` writes CloudWatch Embedded Metric Format lines on stdout", "none",
		text(func(c *Config) *string { return &c.Metrics }, strings.ToLower)},
	{VarMetricsNamespace, "the metrics' CloudWatch namespace", "`cachekit`",
		text(func(c *Config) *string { return &c.MetricsNamespace }, nil)},
	{VarMetricsInterval, "how often metrics are flushed", code(short(cachekit.DefaultMetricsInterval)),
		positive(func(c *Config) *time.Duration { return &c.MetricsInterval }, "500ms or 10s")},
	{VarServiceName, "the metrics' `Service` dimension", "`AWS_LAMBDA_FUNCTION_NAME`",
		text(func(c *Config) *string { return &c.ServiceName }, nil)},
	{VarLambdaFunctionName, "set by AWS Lambda: health checks, metric flushes and sweeps run inside calls when due, and it names the `Service` dimension", "not in Lambda",
		func(c *Config, v string) error {
			c.Background = false
			c.ServiceName = cmp.Or(c.ServiceName, v)
			return nil
		}},
}

// wanted is the error a setter returns: what the variable takes.
type wanted string

func (w wanted) Error() string { return "want " + string(w) }

func text(field func(*Config) *string, norm func(string) string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if norm != nil {
			v = norm(v)
		}
		*field(c) = v
		return nil
	}
}

// positive reads a positive duration, in seconds or as a Go duration.
func positive(field func(*Config) *time.Duration, example string) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := ParseDuration(v)
		if err != nil || d <= 0 {
			return wanted("a positive duration such as " + example)
		}
		*field(c) = d
		return nil
	}
}

// interval reads a duration where 0 means none, which the field holds as -1.
func interval(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := ParseDuration(v)
		if err != nil || d < 0 {
			return wanted("a duration such as 1m, or 0 for none")
		}
		*field(c) = cmp.Or(d, -1)
		return nil
	}
}

// count reads a positive whole number.
func count(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return wanted("a positive whole number")
		}
		*field(c) = n
		return nil
	}
}

func boolean(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return wanted("true or false")
		}
		*field(c) = b
		return nil
	}
}

// code marks a default as code, as the docs show it.
func code(v any) string { return fmt.Sprintf("`%v`", v) }

// short writes a duration as the docs do: 1h, not 1h0m0s.
func short(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

func envError(name, value string, err error) error {
	return fmt.Errorf("%w: %s=%q: %w", cachekit.ErrConfig, name, value, err)
}
