package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableAPI is the part of *dynamodb.Client that CreateTable uses.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
}

var _ TableAPI = (*dynamodb.Client)(nil)

// TableStatus is what CreateTable found or did.
type TableStatus struct {
	Created    bool // the table was created by this call
	TTLEnabled bool // TTL was turned on by this call
}

// CreateTable makes the table that opts names ready for the cache: it creates it on demand
// (pay per request) with opts' key schema when it does not exist, waits until it is active,
// and turns on DynamoDB's TTL for opts' ttl attribute. It is idempotent: on a ready table it
// changes nothing. An existing table keeps its own key schema; a mismatch with opts is an
// error.
func CreateTable(ctx context.Context, api TableAPI, opts Options) (TableStatus, error) {
	var st TableStatus
	o, err := opts.withDefaults()
	if err != nil {
		return st, err
	}
	desc, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(o.Table)})
	var missing *types.ResourceNotFoundException
	switch {
	case errors.As(err, &missing):
		if err := createTable(ctx, api, o); err != nil {
			return st, err
		}
		st.Created = true
	case err != nil:
		return st, wrap(ctx, "DescribeTable", err)
	default:
		if err := checkSchema(desc.Table, o); err != nil {
			return st, err
		}
	}
	if err := waitActive(ctx, api, o.Table); err != nil {
		return st, err
	}
	ttl, err := api.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(o.Table)})
	if err != nil {
		return st, wrap(ctx, "DescribeTimeToLive", err)
	}
	if d := ttl.TimeToLiveDescription; d != nil && d.TimeToLiveStatus != types.TimeToLiveStatusDisabled &&
		d.TimeToLiveStatus != types.TimeToLiveStatusDisabling {
		if aws.ToString(d.AttributeName) != o.TTLAttribute {
			return st, fmt.Errorf("dynamostore: table %s has TTL on attribute %q, not %q", o.Table, aws.ToString(d.AttributeName), o.TTLAttribute)
		}
		return st, nil
	}
	_, err = api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(o.Table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(o.TTLAttribute),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return st, wrap(ctx, "UpdateTimeToLive", err)
	}
	st.TTLEnabled = true
	return st, nil
}

func createTable(ctx context.Context, api TableAPI, o Options) error {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(o.Table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(o.PartitionKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(o.PartitionKey), KeyType: types.KeyTypeHash},
		},
	}
	if o.SortKey != "" {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(o.SortKey), AttributeType: types.ScalarAttributeTypeS})
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(o.SortKey), KeyType: types.KeyTypeRange})
	}
	_, err := api.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) { // created meanwhile by another caller: fine
		return wrap(ctx, "CreateTable", err)
	}
	return nil
}

// checkSchema reports an existing table whose key schema is not the one opts describe.
func checkSchema(t *types.TableDescription, o Options) error {
	want := map[types.KeyType]string{types.KeyTypeHash: o.PartitionKey}
	if o.SortKey != "" {
		want[types.KeyTypeRange] = o.SortKey
	}
	got := map[types.KeyType]string{}
	for _, k := range t.KeySchema {
		got[k.KeyType] = aws.ToString(k.AttributeName)
	}
	if len(got) != len(want) || got[types.KeyTypeHash] != want[types.KeyTypeHash] || got[types.KeyTypeRange] != want[types.KeyTypeRange] {
		return fmt.Errorf("dynamostore: table %s has key schema %v, the options describe %v", o.Table, got, want)
	}
	return nil
}

// waitActive polls the table until it is active, or ctx ends.
func waitActive(ctx context.Context, api TableAPI, table string) error {
	w := dynamodb.NewTableExistsWaiter(api, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 500*time.Millisecond, 5*time.Second
	})
	maxWait := 5 * time.Minute
	if d, ok := ctx.Deadline(); ok {
		maxWait = time.Until(d)
	}
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, maxWait); err != nil {
		return fmt.Errorf("dynamostore: waiting for table %s to be active: %w", table, err)
	}
	return nil
}
