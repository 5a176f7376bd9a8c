package ddbstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

// timeLimitedCacheSize bounds the in-process set of time-limited session ids.
const timeLimitedCacheSize = 100_000

// keepaliveExpr is one variant of the keepalive's UpdateItem, written out once: it is the hot
// path. Extend (no time limit) moves the expiry to now + ka_ms; touch (time-limited) records
// only the keepalive, the expiry being the limit. A user's keepalive also requires the session
// to be theirs. Neither moves an index key nor writes an attribute an index copies, so a
// keepalive is one write unit (the session item is under 1 KB): the session's Due index entry
// stays where it was, which is early once the session has been kept alive, and the sweep that
// finds it there moves it to the real expiry (lifecycle.Decide: reschedule), about once per
// keepalive_expiration (docs/design-sessions.md, "The due index").
type keepaliveExpr struct {
	update, condition string
	names             map[string]string
	// zero says whether the expressions use :zero (a refresh of a time-limited session does not).
	zero bool
}

// keepaliveExprs are the variants by [time-limited][owner][moves the due entry][refreshes the
// usage gate]. A refresh (lifecycle.UsageRefresh) also moves the usage gate, and its condition
// requires the gate as read instead of one not yet passed.
var keepaliveExprs = func() (v [2][2][2][2]keepaliveExpr) {
	for _, timeLimited := range []bool{false, true} {
		for _, owner := range []bool{false, true} {
			for _, moveDue := range []bool{false, true} {
				if timeLimited && moveDue {
					continue // a time-limited session's due time is its warning or limit
				}
				for _, refresh := range []bool{false, true} {
					v[b2i(timeLimited)][b2i(owner)][b2i(moveDue)][b2i(refresh)] = newKeepaliveExpr(timeLimited, owner, moveDue, refresh)
				}
			}
		}
	}
	return v
}()

// newKeepaliveExpr writes out one variant of the keepalive's UpdateItem.
func newKeepaliveExpr(timeLimited, owner, moveDue, refresh bool) keepaliveExpr {
	// The usage gate: no usage deadline, or one not reached yet; with a refresh, the gate as read.
	usageClause := "(#ud = :zero OR #ud > :now)"
	if refresh {
		usageClause = "#ud = :udold"
	}
	names := map[string]string{
		"#lk": sessAttrLastKeepalive, "#conn": sessAttrConnected, "#pk": attrPK, "#st": sessAttrStatus,
		"#ud": sessAttrUsageDeadline, "#idle": sessAttrIdleDisconnect,
		"#ki": sessAttrKaInterval, "#exp": sessAttrExpiresAt, "#tl": sessAttrTimeLimitAt,
		"#kt": sessAttrKeepaliveToken,
	}
	e := keepaliveExpr{
		// #ki = #ki and (time-limited) #exp = #exp, #tl = #tl change nothing: they make
		// the answer (UPDATED_NEW) carry the interval, the expiry and the time limit.
		update:    "SET #lk = :now, #conn = :t, #ki = #ki, #exp = #exp, #tl = #tl, #kt = :kt",
		condition: "attribute_exists(#pk) AND #st = :running AND " + usageClause + " AND #idle > :idle" + keepaliveTokenClause,
		names:     names,
		zero:      !refresh,
	}
	if !timeLimited {
		e.update = "SET #lk = :now, #exp = :now + #ka, #conn = :t, #ki = #ki, #kt = :kt"
		e.condition += " AND #tl = :zero"
		e.zero = true
		names["#ka"] = sessAttrKaMs
	}
	if owner {
		e.condition += " AND #uid = :uid"
		names["#uid"] = sessAttrUserID
	}
	if moveDue {
		// Only for a session whose due time is its expiry (dueHints): the entry
		// moves to the new expiry, as the sweep would have moved it.
		e.update += ", #due = :now + #ka"
		names["#due"] = attrDueAt
	}
	if refresh {
		e.update += ", #ud = :ud"
	}
	return e
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// WriteKeepalive sends one keepalive write (the sessions service decides what a refusal
// means and whether to write again: sessions.RunKeepalive). In steady state it is one
// conditional UpdateItem, one write unit: the condition lets through a running session of
// k.UserID (any, for "") with no time limit, within its usage gate and not idle, and extends
// it to now + ka_ms; for a time-limited session (k.TimeLimited, or known to this process) it
// records the keepalive only. Refused, it answers the session as the failure returned it. The
// write carries a token of its own, so that when the SDK resends it after a lost answer and
// the resend is refused, the write is known to have been applied and answers what it wrote.
func (ss *SessionStore) WriteKeepalive(ctx context.Context, k lifecycle.KeepaliveWrite) (lifecycle.KeepaliveWritten, error) {
	w, err := ss.writeKeepalive(ctx, k)
	if err != nil {
		return lifecycle.KeepaliveWritten{}, fmt.Errorf("write the keepalive: %w", err)
	}
	return w, nil
}

func (ss *SessionStore) writeKeepalive(ctx context.Context, k lifecycle.KeepaliveWrite) (lifecycle.KeepaliveWritten, error) {
	id, now := k.SessionID, lifecycle.Millis(k.Now)
	if !policy.ValidID(id) {
		return lifecycle.KeepaliveWritten{}, errSessionNotFound(id)
	}
	timeLimited := k.TimeLimited || ss.timeLimited.has(id)
	if k.TimeLimited && !ss.timeLimited.has(id) {
		ss.timeLimited.add(id) // its next keepalives take the time-limited write directly
	}
	hint, known := ss.dueHints.get(id)
	moveDue := !timeLimited && known && hint.moveDue(now)
	// The whole item comes back only when this process has yet to learn the session's due
	// entry; otherwise the attributes the write sets (what the answer needs).
	full := !timeLimited && !known
	var refresh *usageRefresh
	if k.Refresh != nil {
		refresh = &usageRefresh{old: msOf(k.Refresh.Old), deadline: msOf(k.Refresh.Deadline)}
	}
	token := ss.keepaliveTokens.next()
	newItem, oldItem, failed, err := ss.keepaliveWrite(ctx, id, k.UserID, now, k.Idle, timeLimited, moveDue, full, refresh, token)
	if err != nil {
		return lifecycle.KeepaliveWritten{}, err
	}
	if failed && appliedBy(oldItem, token) {
		// This call's write was applied, its answer lost and the SDK's retry refused by the
		// token: the keepalive took effect then, and answers what it wrote. Applying it
		// again would undo what came between (an idle keepalive's disconnect).
		newItem, failed = oldItem, false
	}
	if failed {
		var rec sessionRecord
		found, err := ddbkit.DecodeOld(oldItem, &rec)
		if err != nil {
			return lifecycle.KeepaliveWritten{}, err
		}
		return lifecycle.KeepaliveWritten{Old: rec.session(), Found: found}, nil
	}
	rec, err := decodeKeepaliveItem(newItem)
	if err != nil {
		return lifecycle.KeepaliveWritten{}, fmt.Errorf("decode session: %w", err)
	}
	rec.SessionID = id
	switch {
	case full:
		ss.dueHints.learn(&rec)
	case moveDue:
		ss.dueHints.moved(id, rec.DueAt)
	}
	v := lifecycle.KeepaliveExtend
	if timeLimited {
		v = lifecycle.KeepaliveTimeLimited
	}
	return lifecycle.KeepaliveWritten{Applied: true, Result: v.Result(rec.session())}, nil
}

// The keepalive moves no index key, so the Due index entry of a session kept alive is early
// and the sweep corrects it (three write units: the item, and the entry's delete and put in
// the index) about once per keepalive_expiration. A keepalive can do the same for two units,
// the item being written anyway, when it is known that the entry is about to come due: the
// item a keepalive returns says where the entry is and what the keepalive interval is, so a
// process remembers it for the sessions it keeps alive (dueHints), and its keepalive that
// comes within one interval (and a margin) of the entry's time moves the entry to the new
// expiry. A process that has not seen the session (another Lambda instance) sends the plain
// keepalive and the sweep corrects the entry: the hint is never needed for correctness.
const (
	// dueHintsCacheSize bounds the sessions whose due entries a process remembers.
	dueHintsCacheSize = 200_000
	// maxDueMargin bounds the margin beyond one keepalive interval (half an interval when
	// that is less) within which a keepalive moves the entry.
	maxDueMargin = 30 * time.Second
)

// dueHint is where a session's Due index entry was (epoch ms) as of the last keepalive this
// process sent for it, and the session's keepalive interval.
type dueHint struct{ dueMs, intervalMs int64 }

// dueHints is a bounded, concurrency-safe map of session id → dueHint. When full it starts
// over: forgetting costs a sweep correction, never correctness.
type dueHints struct {
	mu    sync.Mutex
	max   int
	hints map[string]dueHint
}

func newDueHints(max int) *dueHints { return &dueHints{max: max, hints: map[string]dueHint{}} }

// get returns what the process knows of session id's due entry.
func (d *dueHints) get(id string) (dueHint, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h, ok := d.hints[id]
	return h, ok
}

// moveDue reports whether a keepalive at now should move the session's Due entry: the entry,
// as last seen, comes due before the next keepalive is expected (within one interval and a
// margin). A session whose entry is not its expiry's (dueMs 0) never qualifies.
func (h dueHint) moveDue(now time.Time) bool {
	if h.dueMs == 0 {
		return false
	}
	margin := min(maxDueMargin.Milliseconds(), h.intervalMs/2)
	return h.dueMs < now.UnixMilli()+h.intervalMs+margin
}

// moved records that this process's keepalive moved session id's entry to dueMs.
func (d *dueHints) moved(id string, dueMs int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h, ok := d.hints[id]; ok && dueMs != 0 {
		h.dueMs = dueMs
		d.hints[id] = h
	}
}

// learn records the due entry of a session as a keepalive returned it (the whole item).
// Only a session whose due time is its expiry qualifies: a running session with no time limit
// and no usage deadline of its own (lifecycle.NextDue; budget and deadline are fixed at the
// start); any other is remembered with dueMs 0, so that its keepalives neither move its entry
// nor ask for the whole item again.
func (d *dueHints) learn(r *sessionRecord) {
	h := dueHint{dueMs: r.DueAt, intervalMs: r.KaIntervalS * 1000}
	if r.TimeLimitAtMs != 0 || (r.UsageDeadlineMs != 0 && r.Budget == "") {
		h.dueMs = 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.hints) >= d.max {
		clear(d.hints)
	}
	d.hints[r.SessionID] = h
}

// decodeKeepaliveItem reads what a successful keepalive answers and remembers from the item
// it returns (expiry, keepalive interval, time limit; due entry, usage deadline and budget),
// without the reflection of attributevalue: it runs on every keepalive.
func decodeKeepaliveItem(item map[string]ddbtypes.AttributeValue) (sessionRecord, error) {
	var r sessionRecord
	var err error
	num := func(name string) int64 {
		v, ok := item[name].(*ddbtypes.AttributeValueMemberN)
		if !ok || err != nil {
			return 0
		}
		n, perr := strconv.ParseInt(v.Value, 10, 64)
		if perr != nil {
			err = fmt.Errorf("attribute %s: %w", name, perr)
		}
		return n
	}
	r.ExpiresAtMs = num(sessAttrExpiresAt)
	r.KaIntervalS = num(sessAttrKaInterval)
	r.TimeLimitAtMs = num(sessAttrTimeLimitAt)
	r.CreatedAtMs = num(sessAttrCreatedAt)
	r.UsageDeadlineMs = num(sessAttrUsageDeadline)
	r.DueAt = num(attrDueAt)
	if v, ok := item[sessAttrBudget].(*ddbtypes.AttributeValueMemberS); ok {
		r.Budget = v.Value
	}
	if err == nil && r.ExpiresAtMs == 0 {
		err = fmt.Errorf("no %s", sessAttrExpiresAt)
	}
	return r, err
}

// usageRefresh moves a budgeted session's usage gate (usage_deadline_ms) from old to deadline
// as part of a keepalive write, conditional on it still being old.
type usageRefresh struct{ old, deadline int64 }

// keepaliveWrite builds the keepalive's UpdateItem (its expressions written out beforehand,
// keepaliveExprs) and sends it. failed reports a failed condition, with the old item (empty
// when the session does not exist). With refresh, the write also moves the usage gate, and its
// condition requires the gate as read instead of one not yet passed.
func (ss *SessionStore) keepaliveWrite(ctx context.Context, id, userID string, now time.Time, idle time.Duration, timeLimited, moveDue, full bool, refresh *usageRefresh, token string) (newItem, oldItem map[string]ddbtypes.AttributeValue, failed bool, err error) {
	nowV := &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)}
	values := map[string]ddbtypes.AttributeValue{
		":now":     nowV,
		":t":       &ddbtypes.AttributeValueMemberBOOL{Value: true},
		":running": &ddbtypes.AttributeValueMemberS{Value: string(lifecycle.StatusRunning)},
		":idle":    &ddbtypes.AttributeValueMemberN{Value: strconv.FormatFloat(idle.Seconds(), 'f', -1, 64)},
		":kt":      &ddbtypes.AttributeValueMemberS{Value: token},
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                           aws.String(ss.st.table),
		Key:                                 sessionKey(id).Attributes(),
		ExpressionAttributeValues:           values,
		ReturnValues:                        ddbtypes.ReturnValueUpdatedNew,
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if full {
		in.ReturnValues = ddbtypes.ReturnValueAllNew
	}
	e := keepaliveExprs[b2i(timeLimited)][b2i(userID != "")][b2i(moveDue)][b2i(refresh != nil)]
	in.UpdateExpression, in.ConditionExpression, in.ExpressionAttributeNames = aws.String(e.update), aws.String(e.condition), e.names
	if e.zero {
		values[":zero"] = &ddbtypes.AttributeValueMemberN{Value: "0"}
	}
	if refresh != nil {
		values[":ud"] = &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(refresh.deadline, 10)}
		values[":udold"] = &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(refresh.old, 10)}
	}
	if userID != "" {
		values[":uid"] = &ddbtypes.AttributeValueMemberS{Value: userID}
	}
	out, err := ss.sendKeepalive(ctx, in)
	var cf *ddbtypes.ConditionalCheckFailedException
	switch {
	case err == nil:
		return out.Attributes, nil, false, nil
	case errors.As(err, &cf):
		return nil, cf.Item, true, nil
	}
	return nil, nil, false, ddbkit.StoreError(err)
}

// idSet is a bounded, concurrency-safe set of ids. When full it starts over: it is a cache of
// facts that never change, so forgetting costs one extra write per session, never correctness.
type idSet struct {
	mu  sync.RWMutex
	max int
	ids map[string]struct{}
}

func newIDSet(max int) *idSet { return &idSet{max: max, ids: map[string]struct{}{}} }

func (s *idSet) has(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.ids[id]
	return ok
}

func (s *idSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ids) >= s.max {
		clear(s.ids)
	}
	s.ids[id] = struct{}{}
}

// keepaliveTokenClause keeps a keepalive's write from being applied twice: the SDK resends a
// request whose answer was lost (a timeout or reset after sending), and a keepalive is not
// idempotent against what other writes did in between. Each call writes its own token, and
// its condition refuses an item that already holds it (appliedBy then says so).
const keepaliveTokenClause = " AND (attribute_not_exists(#kt) OR #kt <> :kt)"

// appliedBy reports whether item holds token as its last keepalive's token.
func appliedBy(item map[string]ddbtypes.AttributeValue, token string) bool {
	v, ok := item[sessAttrKeepaliveToken].(*ddbtypes.AttributeValueMemberS)
	return ok && v.Value == token
}

// tokenSource hands out tokens unique across processes: a random prefix per process and a
// counter, cheaper than a random draw per keepalive.
type tokenSource struct {
	prefix string
	n      atomic.Uint64
}

func newTokenSource() *tokenSource {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return &tokenSource{prefix: base64.RawURLEncoding.EncodeToString(b[:]) + "."}
}

func (t *tokenSource) next() string {
	return t.prefix + strconv.FormatUint(t.n.Add(1), 36)
}
