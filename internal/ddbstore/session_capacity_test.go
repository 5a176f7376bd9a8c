package ddbstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/sessions"
)

// TestKeepaliveWritesOneUnit checks on DynamoDB Local, by the capacity it reports
// (ReturnConsumedCapacity INDEXES), that a keepalive is one write unit: the session item, and
// nothing in any index (no index key moves, no attribute an index copies changes).
func TestKeepaliveWritesOneUnit(t *testing.T) {
	env := newSessionEnv(t, "u1")
	env.start(t, "plain", "u1", true, testLifetime(), st0)
	lt := testLifetime()
	lt.TimeLimit = time.Hour
	env.start(t, "limited", "u1", true, lt, st0)
	var (
		mu    sync.Mutex
		table float64
		index = map[string]float64{}
	)
	ctx := context.Background()
	db, err := ddbkit.NewClient(ctx, env.tb.Endpoint, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("capacity",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if p, ok := in.Parameters.(*dynamodb.UpdateItemInput); ok {
						p.ReturnConsumedCapacity = ddbtypes.ReturnConsumedCapacityIndexes
					}
					out, md, err := next.HandleInitialize(ctx, in)
					if r, ok := out.Result.(*dynamodb.UpdateItemOutput); ok && r.ConsumedCapacity != nil {
						mu.Lock()
						if c := r.ConsumedCapacity.Table; c != nil && c.CapacityUnits != nil {
							table += *c.CapacityUnits
						}
						for name, c := range r.ConsumedCapacity.GlobalSecondaryIndexes {
							if c.CapacityUnits != nil {
								index[name] += *c.CapacityUnits
							}
						}
						mu.Unlock()
					}
					return out, md, err
				}), middleware.Before)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	ss := ddbstore.Open(db, env.tb.Name).Sessions()
	const n = 5
	for _, id := range []string{"plain", "limited"} {
		for i := 1; i <= n; i++ {
			if _, err := sessions.RunKeepalive(ctx, ss, id, "u1", st0.Add(time.Duration(i)*time.Second), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The time-limited session's first keepalive fails its condition once (then its id is
	// remembered), so 2n+1 writes; DynamoDB Local reports nothing for the failed one.
	if table != 2*n {
		t.Errorf("the keepalives cost the table %v units, want %d (one each)", table, 2*n)
	}
	for name, u := range index {
		if u != 0 {
			t.Errorf("the keepalives cost index %s %v units, want none", name, u)
		}
	}
}
