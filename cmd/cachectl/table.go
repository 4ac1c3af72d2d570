package main

import (
	"context"
	"fmt"

	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/dynamostore"
)

// runTable runs "cachectl table create".
func runTable(ctx context.Context, inv *invocation) error {
	if inv.args[0] != "create" {
		return usagef("unknown table command %q; want: cachectl table create", inv.args[0])
	}
	if inv.cfg.Backend() != cacheenv.StorageDynamoDB {
		return usagef("table create is for the dynamodb backend; give --table NAME or set CACHE_TABLE_NAME")
	}
	client, closeIdle, err := dynamostore.NewClient(ctx, inv.cfg.DynamoDBEndpoint)
	if err != nil {
		return err
	}
	defer closeIdle()
	opts := inv.cfg.DynamoDBOptions()
	st, err := dynamostore.CreateTable(ctx, client, opts)
	if err != nil {
		return err
	}
	if inv.json {
		return inv.printJSON(struct {
			Table      string `json:"table"`
			Created    bool   `json:"created"`
			TTLEnabled bool   `json:"ttl_enabled"`
		}{opts.Table, st.Created, st.TTLEnabled})
	}
	switch {
	case st.Created:
		fmt.Fprintf(inv.stdout, "table %s created, on demand, with TTL on its ttl attribute\n", opts.Table)
	case st.TTLEnabled:
		fmt.Fprintf(inv.stdout, "table %s existed; TTL turned on for its ttl attribute\n", opts.Table)
	default:
		fmt.Fprintf(inv.stdout, "table %s is ready; nothing to do\n", opts.Table)
	}
	return nil
}
