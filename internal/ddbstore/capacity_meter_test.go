package ddbstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
)

// capacityMeter adds up the write units DynamoDB Local reports for UpdateItem calls, for the
// table and per index (ReturnConsumedCapacity INDEXES, asked for on every UpdateItem).
type capacityMeter struct {
	mu    sync.Mutex
	table float64
	index map[string]float64
}

// meteredSessions is the session store of env's table on a client whose UpdateItem capacity m
// meters.
func meteredSessions(t *testing.T, env sessionEnv) (*ddbstore.SessionStore, *capacityMeter) {
	t.Helper()
	m := &capacityMeter{index: map[string]float64{}}
	db, err := ddbkit.NewClient(context.Background(), env.tb.Endpoint, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("capacity",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if p, ok := in.Parameters.(*dynamodb.UpdateItemInput); ok {
						p.ReturnConsumedCapacity = ddbtypes.ReturnConsumedCapacityIndexes
					}
					out, md, err := next.HandleInitialize(ctx, in)
					if r, ok := out.Result.(*dynamodb.UpdateItemOutput); ok && r.ConsumedCapacity != nil {
						m.add(r.ConsumedCapacity)
					}
					return out, md, err
				}), middleware.Before)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return ddbstore.Open(db, env.tb.Name).Sessions(), m
}

func (m *capacityMeter) add(c *ddbtypes.ConsumedCapacity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.Table != nil && c.Table.CapacityUnits != nil {
		m.table += *c.Table.CapacityUnits
	}
	for name, ic := range c.GlobalSecondaryIndexes {
		if ic.CapacityUnits != nil {
			m.index[name] += *ic.CapacityUnits
		}
	}
}

// units returns the table's units and the indexes', per index and in all, since the last reset.
func (m *capacityMeter) units() (table float64, index map[string]float64, indexes float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	index = map[string]float64{}
	for name, u := range m.index {
		index[name] = u
		indexes += u
	}
	return m.table, index, indexes
}

// reset sets the counts to zero.
func (m *capacityMeter) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.table = 0
	clear(m.index)
}
