package ddbstore

import (
	"context"
	"fmt"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/lifecycle"
)

// maxChangesPerTransaction bounds how many sessions' changes TransitionAll writes in one
// transaction. DynamoDB Local commits a transaction of several small changes in about the time
// of one (it pays per transaction more than per item), so a mass expiry goes about twice to
// three times as fast at 4 to 8 a transaction; more makes a transaction that one racing
// keepalive cancels whole more likely, and its changes are then written one by one.
const maxChangesPerTransaction = 8

// TransitionAll applies changes as Transition applies each, returning each one's error (nil:
// applied) in cs's order. The changes that are transactions of their own anyway (with events or
// ending the session) and charge no budget are grouped, up to maxChangesPerTransaction sessions
// of distinct users a transaction (a transaction may not write one item twice): the group is
// written all at once or not at all, so each session's change is still applied exactly once,
// guarded as Transition guards it. When DynamoDB cancels a group (a session changed, a user's
// count is already 0, a collision that kept recurring), nothing of it was written and its
// changes are applied one by one by Transition, which knows what to do with each failure. When
// a group fails otherwise (throttling, an answer lost), every change of the group gets that
// error: the group may or may not have been applied, and the caller's retry of a change, by
// Transition, finds out through its guard. The other changes are applied one by one.
//
// A group costs what its changes cost one by one (transactional writes, per item), in fewer
// requests.
func (ss *SessionStore) TransitionAll(ctx context.Context, cs []lifecycle.Change) []error {
	errs := make([]error, len(cs))
	var group []int
	users := map[string]bool{}
	items := 0
	flush := func() {
		ss.transitionGroup(ctx, cs, group, errs)
		group, items = group[:0], 0
		clear(users)
	}
	for i, c := range cs {
		if !groupable(c) {
			errs[i] = ss.Transition(ctx, c)
			continue
		}
		n := transitionItems(c)
		if users[c.Before.UserID] || len(group) == maxChangesPerTransaction || items+n > ddbkit.MaxTransactItems {
			flush()
		}
		group = append(group, i)
		users[c.Before.UserID] = true
		items += n
	}
	flush()
	return errs
}

// groupable reports whether change c can share a transaction with other sessions' changes:
// it is a transaction of its own (events, or the session ends) and charges no budget (the
// ledger's races and deadline are handled change by change).
func groupable(c lifecycle.Change) bool {
	return !c.None() && (len(c.Events) > 0 || c.Ends()) && !(c.Ends() && c.Before.Budget != "")
}

// transitionItems is how many items addTransition writes for c at most.
func transitionItems(c lifecycle.Change) int {
	n := 1 + len(c.Events)
	if c.Ends() {
		n += 2 // the launch item and the user item
	}
	return n
}

// transitionGroup writes the changes cs[i] for i in group in one transaction (a group of one
// is written by Transition), and records each one's outcome in errs.
func (ss *SessionStore) transitionGroup(ctx context.Context, cs []lifecycle.Change, group []int, errs []error) {
	switch len(group) {
	case 0:
		return
	case 1:
		errs[group[0]] = ss.Transition(ctx, cs[group[0]])
		return
	}
	tx := ss.st.newTx()
	for _, i := range group {
		c := cs[i]
		userStep := userEndNone
		if c.Ends() {
			userStep = userEndDecrement
		}
		addTransition(tx, c, changeUpdate(c), guardCondition(c), userStep)
	}
	err := ss.st.transactWrite(ctx, tx)
	if err == nil {
		return
	}
	if _, cancelled := ddbkit.CancellationReasons(err); cancelled {
		for _, i := range group {
			errs[i] = ss.Transition(ctx, cs[i])
		}
		return
	}
	err = ddbkit.StoreError(err)
	for _, i := range group {
		errs[i] = fmt.Errorf("%s session %s (in a group of %d): %w", cs[i].Outcome, cs[i].Before.ID, len(group), err)
	}
}
