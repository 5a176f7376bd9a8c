package ddbstore

import (
	"testing"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/tabledef"
)

func TestSessionKeys(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 5_000_000, time.FixedZone("x", 3600))
	tests := []struct {
		name string
		got  tableKey
		want tableKey
	}{
		{"session", sessionKey("s1"), tableKey{PK: "SESSION#s1", SK: "SESSION"}},
		{"event, zero-padded", sessionEventKey("s1", 42), tableKey{PK: "SESSION#s1", SK: "EVENT#00000042"}},
		{"re-sync marker, UTC fixed width", resyncKey("group", "g1", at), tableKey{PK: "RESYNC", SK: "2026-03-01T11:00:00.005000000Z#group#g1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("key = %+v, want %+v", tc.got, tc.want)
			}
		})
	}
	if got, want := userSessionSK(at, "s1"), "SESSION#2026-03-01T11:00:00.005000000Z#s1"; got != want {
		t.Errorf("userSessionSK() = %q, want %q", got, want)
	}
	if got := userSessionsPK("u1"); got != "USER#u1" {
		t.Errorf("userSessionsPK() = %q", got)
	}
}

func TestUserSessionSKOrder(t *testing.T) {
	a := userSessionSK(time.Date(2026, 3, 1, 12, 0, 0, 100_000_000, time.UTC), "z")
	b := userSessionSK(time.Date(2026, 3, 1, 12, 0, 0, 120_000_000, time.UTC), "a")
	if a >= b {
		t.Errorf("%q sorts after %q, want time order", a, b)
	}
}

func TestDueShard(t *testing.T) {
	seen := map[string]bool{}
	for i := range 2000 {
		id := "s_" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		sh := dueShard(id)
		if sh != dueShard(id) {
			t.Fatalf("dueShard(%q) is not stable", id)
		}
		seen[sh] = true
	}
	if len(seen) != tabledef.DueShards {
		t.Errorf("2000 ids used %d shards, want all %d", len(seen), tabledef.DueShards)
	}
	if got := dueShardName(3); got != "DUE#3" {
		t.Errorf("dueShardName(3) = %q", got)
	}
}

func TestParseResyncSK(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		sk       string
		ok       bool
		kind, id string
	}{
		{"round trip", resyncKey("user", "u1", at).SK, true, "user", "u1"},
		{"no kind", "2026-03-01T12:00:00.000000000Z", false, "", ""},
		{"bad time", "yesterday#user#u1", false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gotAt, kind, id, ok := parseResyncSK(tc.sk)
			if ok != tc.ok || kind != tc.kind || id != tc.id || (ok && !gotAt.Equal(at)) {
				t.Errorf("parseResyncSK(%q) = %v %q %q %v", tc.sk, gotAt, kind, id, ok)
			}
		})
	}
}

func TestAddResyncMarker(t *testing.T) {
	tx := &txWrites{ddbkit.Table{Name: "t"}.NewTx()}
	tx.addResyncMarker(lifecycle.ResyncGroup, "g1", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	if tx.Err != nil || len(tx.Items) != 1 || tx.Items[0].Put == nil {
		t.Fatalf("items = %+v, err %v; want one put", tx.Items, tx.Err)
	}
	sk := tx.Items[0].Put.Item[attrSK].(*ddbtypes.AttributeValueMemberS).Value
	if sk != "2026-03-01T12:00:00.000000000Z#group#g1" {
		t.Errorf("marker SK = %q", sk)
	}
}

func TestPageToken(t *testing.T) {
	last := map[string]ddbtypes.AttributeValue{
		attrPK: &ddbtypes.AttributeValueMemberS{Value: "SESSION#s1"}, attrSK: &ddbtypes.AttributeValueMemberS{Value: "SESSION"},
		attrDueShard: &ddbtypes.AttributeValueMemberS{Value: "DUE#3"}, attrDueAt: &ddbtypes.AttributeValueMemberN{Value: "1234"},
	}
	tok, err := ddbkit.EncodePageToken(last)
	if err != nil || tok == "" {
		t.Fatalf("ddbkit.EncodePageToken() = %q, %v", tok, err)
	}
	tests := []struct {
		name  string
		tok   string
		shape map[string]ddbkit.PageAttr
		ok    bool
	}{
		{"round trip", tok, duePageShape("DUE#3", 5000), true},
		{"pinned to another partition", tok, duePageShape("DUE#4", 5000), false},
		{"due after the query's end", tok, duePageShape("DUE#3", 1000), false},
		{"other attributes", tok, scanPageShape(), false},
		{"not base64", "!!", scanPageShape(), false},
		{"not json", "bm90IGpzb24", scanPageShape(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ddbkit.DecodePageToken(tc.tok, tc.shape)
			if (err == nil) != tc.ok {
				t.Fatalf("ddbkit.DecodePageToken() error = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && got[attrDueAt].(*ddbtypes.AttributeValueMemberN).Value != "1234" {
				t.Errorf("decoded %+v", got)
			}
		})
	}
	if got, err := ddbkit.DecodePageToken("", nil); got != nil || err != nil {
		t.Errorf("empty token = %v, %v; want nil, nil", got, err)
	}
}

func TestSessionRecordRoundTrip(t *testing.T) {
	lt := lifecycle.Lifetime{KeepaliveExpiration: 90 * time.Second, Action: lifecycle.ActionPause,
		KeepaliveInterval: 30 * time.Second, IdleDisconnect: 1500 * time.Millisecond, TimeLimit: time.Hour}
	s, _ := lifecycle.NewSession("s1", "u1", "img", true, lt, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s.UsageDeadline = s.CreatedAt.Add(time.Minute)
	s.Budget = "b"
	got := newSessionRecord(s).session()
	if got.Lifetime != lt || !got.TimeLimitAt.Equal(s.TimeLimitAt) || !got.UsageDeadline.Equal(s.UsageDeadline) || got.Budget != "b" || !got.DueAt.Equal(s.DueAt) {
		t.Errorf("round trip = %+v\nwant %+v", got, s)
	}
	if r := newSessionRecord(lifecycle.Session{ID: "x"}); r.DueShard != "" || r.DueAt != 0 {
		t.Errorf("a session with nothing due has index keys %q %d", r.DueShard, r.DueAt)
	}
}
