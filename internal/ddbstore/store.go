package ddbstore

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

// Store keeps the service's data in one DynamoDB table. It implements policy.Directory.
type Store struct {
	db    *dynamodb.Client
	table string
	kt    ddbkit.Table
	clock policy.Clock
	// ledgers shares concurrent reads of one budget's ledger (readLedger).
	ledgers freshCalls[string, lifecycle.BudgetLedger]
	// groupSets shares concurrent reads of one set of groups (GroupsOfUser): the members of
	// a class starting at 9:00 all read All Users and the class's group.
	groupSets freshCalls[string, []policy.Group]
}

var _ policy.Directory = (*Store)(nil)

// maxRaceAttempts bounds read-then-conditional-write loops that lost a race to another writer
// (only when the caller did not pin a version).
const maxRaceAttempts = 5

// txWrites is a transaction being built: ddbkit's items plus the model's own writes
// (ledgers, re-sync markers) as methods.
type txWrites struct{ *ddbkit.Tx }

func (s *Store) newTx() *txWrites { return &txWrites{s.kt.NewTx()} }

// transactWrite runs tx (see ddbkit.Table.TransactWrite).
func (s *Store) transactWrite(ctx context.Context, tx *txWrites) error {
	return s.kt.TransactWrite(ctx, tx.Tx)
}

// now returns the store clock's time in UTC.
func (s *Store) now() time.Time { return s.clock.Now().UTC() }
