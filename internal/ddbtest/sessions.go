package ddbtest

import (
	"context"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/usage"
)

// Starter is a session store that starts sessions charged to a budget (ddbstore.SessionStore).
type Starter interface {
	StartCharged(ctx context.Context, s lifecycle.Session, created lifecycle.Event, b usage.Budget) (lifecycle.Session, error)
}

// StartSession starts s charged to no budget: the store's start transaction, for tests that
// set up sessions without the session service.
func StartSession(ctx context.Context, st Starter, s lifecycle.Session, created lifecycle.Event) error {
	_, err := st.StartCharged(ctx, s, created, usage.Budget{})
	return err
}
