package ddbstore

import (
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbwire"
	"wspolicy/internal/policy"
)

// Table is the service's one DynamoDB table, opened once; the directory store and the
// session store are built from it and share its client and options.
type Table struct {
	dir      *Store
	sessions *SessionStore
}

// Option configures an opened Table.
type Option func(*options)

type options struct {
	clock          policy.Clock
	log            *slog.Logger
	ledgerPatience time.Duration
	keepaliveWire  *ddbwire.Client
	fixesDetached  bool
}

// WithClock sets the clock that stamps creation times the caller left zero (the default is
// policy.SystemClock).
func WithClock(c policy.Clock) Option {
	return func(o *options) { o.clock = c }
}

// WithLogger sets where the stores report inconsistencies they work around (a session charged
// to a budget whose ledger is missing); the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithLedgerPatience sets how long a write racing for a budget's ledger keeps trying (see
// DefaultLedgerPatience).
func WithLedgerPatience(d time.Duration) Option {
	return func(o *options) { o.ledgerPatience = d }
}

// WithDetachedDeadlineFixes makes the deadline check that follows a start or an end on a
// sharded budget (fixDeadline) run after the call has answered instead of before: the stored
// state goes through the same steps in the same order (the check starts once the write has
// committed, as before), but the caller does not wait for it. It is for a long-lived process,
// which must call SessionStore.WaitDeadlineFixes before it exits; not for Lambda, which
// freezes a function between invocations and may never thaw it.
func WithDetachedDeadlineFixes() Option {
	return func(o *options) { o.fixesDetached = true }
}

// Open returns the named table on db, from which the stores are built.
func Open(db *dynamodb.Client, table string, opts ...Option) *Table {
	o := options{clock: policy.SystemClock{}, log: slog.Default(), ledgerPatience: DefaultLedgerPatience}
	for _, opt := range opts {
		opt(&o)
	}
	st := &Store{db: db, table: table, kt: ddbkit.Table{DB: db, Name: table}, clock: o.clock}
	ss := &SessionStore{st: st, timeLimited: newIDSet(timeLimitedCacheSize), dueHints: newDueHints(dueHintsCacheSize),
		keepaliveTokens: newTokenSource(), log: o.log, ledgerPatience: o.ledgerPatience, keepaliveWire: o.keepaliveWire, fixesDetached: o.fixesDetached}
	return &Table{dir: st, sessions: ss}
}

// Directory returns the store of groups, users, memberships, keys, workspaces and SSO links.
func (t *Table) Directory() *Store { return t.dir }

// Sessions returns the store of sessions, their events, re-sync markers and usage ledgers.
// Its caches live as long as the Table: open the table once a process.
func (t *Table) Sessions() *SessionStore { return t.sessions }
