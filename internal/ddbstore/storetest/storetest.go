// Package storetest opens ddbstore on a fresh DynamoDB Local table, for the tests of the
// packages that write through it (the stores' own tests, the services, the sweep).
package storetest

import (
	"context"
	"testing"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/policy"
)

// Env is a fresh table with the directory and session stores opened on it once.
type Env struct {
	TB       *ddbtest.Table
	Dir      *ddbstore.Store
	Sessions *ddbstore.SessionStore
}

// New creates a table on DynamoDB Local, opens the stores on it and creates the users named
// (each with its id as username).
func New(t testing.TB, users ...string) Env {
	t.Helper()
	return NewOpened(t, nil, users...)
}

// NewOpened is New with the table opened with opts.
func NewOpened(t testing.TB, opts []ddbstore.Option, users ...string) Env {
	t.Helper()
	tb := ddbtest.NewTable(t)
	tbl := ddbstore.Open(tb.Client, tb.Name, opts...)
	e := Env{TB: tb, Dir: tbl.Directory(), Sessions: tbl.Sessions()}
	for _, u := range users {
		if _, err := e.Dir.CreateUser(context.Background(), policy.User{ID: u, Username: u}); err != nil {
			t.Fatalf("create user %s: %v", u, err)
		}
	}
	return e
}
