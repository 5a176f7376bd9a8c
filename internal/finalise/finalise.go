// Package finalise is the TTL backstop: it completes whatever an item removed by DynamoDB's
// TTL process left open (publish.Finaliser). TTL is cleanup, never a timer — it can lag by
// days — so in normal operation there is nothing left to do:
//
//   - a session item carries a TTL only once it is deleted (deleted_at + 7 days), and its
//     deletion already wrote its events, released its max_kasms_per_user slot and ended its
//     budget charge: nothing to do;
//   - a session's launch item (its client_settings and launch documents) gets the session's
//     TTL in the transaction that deletes the session: nothing to do;
//   - an event item (TTL at + 90 days) was published when it was inserted: nothing to do;
//   - a budget ledger carries a TTL only while no session is open on it (docs/design-usage.md),
//     so its removal loses nothing: nothing to do (a removed ledger that still counted open
//     sessions is logged as an error: it cannot happen by construction);
//   - budget membership items, re-sync markers, users, groups and keys carry no TTL; countdowns
//     keep no item (a countdown is a Step Functions execution named after its session, or an
//     in-process timer).
//
// The one case it completes is a session item removed while not deleted (a TTL attribute set
// by hand, or by a future writer): the session is gone, so it records a final deleted event
// (actor system:ttl, reason item_expired) that the provisioning layer acts on, deletes its
// launch item (which has no TTL while the session lives), decrements the user's
// active_sessions, ends its budget charge, and stops its countdown — once, however
// often the stream hands the record over.
package finalise

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"wspolicy/internal/countdown"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/publish/streams"
)

// ActorTTL is the actor of the events the finaliser records.
const ActorTTL = "system:ttl"

// ReasonItemExpired is the reason of the deleted event of a session whose item TTL removed.
const ReasonItemExpired = "item_expired"

// Store is what the finaliser needs of the session store; ddbstore.SessionStore implements it.
type Store interface {
	FinaliseRemovedSession(ctx context.Context, s lifecycle.Session, ended lifecycle.Event) (bool, error)
}

// Config holds what a Finaliser needs.
type Config struct {
	Store Store
	// Countdowns stops the countdown of a removed time-limited session; nil: none to stop
	// (a countdown that fires later finds no session and does nothing).
	Countdowns countdown.Timer
	// Clock dates the final event; nil is the system clock.
	Clock policy.Clock
	// Logger receives one line per item that needed attention; nil discards.
	Logger *slog.Logger
}

// Finaliser implements publish.Finaliser.
type Finaliser struct {
	store  Store
	timers countdown.Timer
	clock  policy.Clock
	log    *slog.Logger
}

// New returns a Finaliser.
func New(cfg Config) *Finaliser {
	f := &Finaliser{store: cfg.Store, timers: cfg.Countdowns, clock: cfg.Clock, log: cfg.Logger}
	if f.clock == nil {
		f.clock = policy.SystemClock{}
	}
	if f.log == nil {
		f.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return f
}

// FinaliseExpired completes what the removed item (its old image) left open; see the package
// documentation. It is idempotent.
func (f *Finaliser) FinaliseExpired(ctx context.Context, oldImage map[string]events.DynamoDBAttributeValue) error {
	old, err := streams.ItemFromImage(oldImage)
	if err != nil {
		return fmt.Errorf("decode old image: %w", err)
	}
	it, err := ddbstore.DecodeRemoved(old)
	if err != nil {
		return err
	}
	switch it.Kind {
	case ddbstore.RemovedSession:
		if it.Session.Status == lifecycle.StatusDeleted {
			return nil
		}
		return f.finaliseSession(ctx, it.Session)
	case ddbstore.RemovedLedger:
		if it.OpenCount > 0 {
			f.log.LogAttrs(ctx, slog.LevelError, "ttl removed a ledger with open sessions; their charge is lost",
				slog.String("budget", it.Budget), slog.Int64("open_count", it.OpenCount))
		}
	}
	return nil
}

// finaliseSession records the end of live session s, whose item is gone.
func (f *Finaliser) finaliseSession(ctx context.Context, s lifecycle.Session) error {
	now := lifecycle.Millis(f.clock.Now())
	seq := s.EventSeq + 1
	ev := lifecycle.Event{
		EventID: lifecycle.EventID(s.ID, seq), SessionID: s.ID, UserID: s.UserID, Seq: seq,
		Type: lifecycle.EventDeleted, Actor: ActorTTL, Reason: ReasonItemExpired, At: now,
		StatusBefore: s.Status, StatusAfter: lifecycle.StatusDeleted,
	}
	done, err := f.store.FinaliseRemovedSession(ctx, s, ev)
	if err != nil {
		return fmt.Errorf("finalise removed session %s: %w", s.ID, err)
	}
	if done {
		f.log.LogAttrs(ctx, slog.LevelWarn, "ttl removed a live session: finalised",
			slog.String("session_id", s.ID), slog.String("user_id", s.UserID), slog.String("status", string(s.Status)),
			slog.String("budget", s.Budget))
	}
	if f.timers != nil && s.TimeLimited() {
		if err := f.timers.Stop(ctx, s.ID); err != nil {
			return fmt.Errorf("stop the countdown of removed session %s: %w", s.ID, err)
		}
	}
	return nil
}
