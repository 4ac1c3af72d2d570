package dynamostore

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// NewClient returns a DynamoDB client configured as the AWS SDK's default chain says
// (AWS_REGION, credentials from the environment, shared files or the role, and the SDK's own
// AWS_ENDPOINT_URL_DYNAMODB), sending to endpoint when it is not empty, as DynamoDB Local
// needs. It reads configuration only: no request is sent until the client is used, and
// credentials are fetched then. closeIdle closes the client's idle connections and their
// goroutines; pass it as Options.OnClose of the Store that owns the client.
func NewClient(ctx context.Context, endpoint string) (client *dynamodb.Client, closeIdle func(), err error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("dynamostore: loading the AWS configuration: %w", err)
	}
	if endpoint != "" && cfg.Region == "" {
		cfg.Region = "us-east-1" // a local emulator answers in any region; the SDK needs one
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64 // many goroutines share one table endpoint
	client = dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: transport}
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			// DynamoDB Local's error responses carry no CRC32 header, and the SDK would warn
			// on each; responses from loopback cross no network to be checked against.
			o.DisableValidateResponseChecksum = isLoopback(endpoint)
		}
	})
	return client, transport.CloseIdleConnections, nil
}

// isLoopback reports whether endpoint's host is on this machine.
func isLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
