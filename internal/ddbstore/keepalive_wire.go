package ddbstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"wspolicy/internal/ddbwire"
)

// WithKeepaliveWire sends the keepalive's UpdateItem as a hand-built, signed request (package
// ddbwire) instead of through the SDK's middleware stack: the same request, answers, errors and
// retries, for about a third less of the API process's CPU per keepalive (docs/capacity.md,
// "The keepalive's CPU"). The processes that serve keepalives (the api function, the local
// run) turn it on; a client whose requests must pass its own middleware (a test's request
// counter) leaves it off.
func WithKeepaliveWire(w *ddbwire.Client) Option {
	return func(o *options) { o.keepaliveWire = w }
}

// NewKeepaliveWire builds the ddbwire client for WithKeepaliveWire from db's options.
func NewKeepaliveWire(ctx context.Context, db *dynamodb.Client) (*ddbwire.Client, error) {
	w, err := ddbwire.New(ctx, db.Options())
	if err != nil {
		return nil, fmt.Errorf("keepalive client: %w", err)
	}
	return w, nil
}

// sendKeepalive sends the keepalive's UpdateItem, the one request of a keepalive in steady
// state: through ddbwire when it is on (WithKeepaliveWire), else through the SDK.
func (ss *SessionStore) sendKeepalive(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
	if ss.keepaliveWire != nil {
		return ss.keepaliveWire.UpdateItem(ctx, in)
	}
	return ss.st.db.UpdateItem(ctx, in)
}
