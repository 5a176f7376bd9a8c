package ddbstore

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/tabledef"
)

// TestIndexesCopyNothingAKeepaliveWrites checks the table definition against every attribute
// the keepalive's UpdateItem variants set (and the usage gate a refresh moves): none is an
// index key or an attribute an index copies, so a keepalive writes no index — but the variant
// that moves the due entry (dueHints), which writes DueAt and nothing else indexed.
func TestIndexesCopyNothingAKeepaliveWrites(t *testing.T) {
	placeholder := regexp.MustCompile(`#\w+`)
	var written []string
	for _, byOwner := range keepaliveExprs {
		for _, byMove := range byOwner {
			for moveDue, byRefresh := range byMove {
				for _, e := range byRefresh {
					for _, p := range placeholder.FindAllString(e.update, -1) {
						if a := e.names[p]; moveDue == 0 || a != attrDueAt {
							written = append(written, a)
						}
					}
					if moveDue == 1 && e.update != "" && !slices.Contains(mapValues(e.names), attrDueAt) {
						t.Errorf("the variant that moves the due entry does not write %s: %s", attrDueAt, e.update)
					}
				}
			}
		}
	}
	for _, a := range []string{sessAttrExpiresAt, sessAttrLastKeepalive, sessAttrUsageDeadline} {
		if !slices.Contains(written, a) {
			t.Fatalf("written attributes %v miss %s", written, a)
		}
	}
	for _, ix := range tabledef.Indexes {
		if ix.Projection != tabledef.KeysOnly && ix.Projection != tabledef.Include {
			t.Errorf("index %s projects %q; want keys only or a list", ix.Name, ix.Projection)
		}
		for _, a := range written {
			if a == ix.PartitionKey.Name || a == ix.SortKey.Name || slices.Contains(ix.NonKeyAttributes, a) {
				t.Errorf("the keepalive writes %s, which index %s holds", a, ix.Name)
			}
		}
	}
}

// TestKeepaliveExprVariants checks each written-out variant: the refresh variants move the
// usage gate and require it as read, the others require a gate not yet passed; every name is
// used, and :zero is sent exactly when an expression uses it (DynamoDB refuses unused names
// and values).
func TestKeepaliveExprVariants(t *testing.T) {
	placeholder := regexp.MustCompile(`#\w+`)
	for tl, byOwner := range keepaliveExprs {
		for owner, byMove := range byOwner {
			for moveDue, byRefresh := range byMove {
				if tl == 1 && moveDue == 1 {
					continue // no such variant
				}
				for refresh, e := range byRefresh {
					name := fmt.Sprintf("time-limited %d, owner %d, move due %d, refresh %d", tl, owner, moveDue, refresh)
					both := e.update + " " + e.condition
					if got, want := strings.Contains(e.update, "#ud = :ud") && strings.Contains(e.condition, "#ud = :udold"), refresh == 1; got != want {
						t.Errorf("%s: moves the gate as read %v, want %v: %s / %s", name, got, want, e.update, e.condition)
					}
					if got, want := strings.Contains(e.condition, "#ud > :now"), refresh == 0; got != want {
						t.Errorf("%s: requires a gate not passed %v, want %v: %s", name, got, want, e.condition)
					}
					if got := strings.Contains(both, ":zero"); got != e.zero {
						t.Errorf("%s: uses :zero %v, but zero is %v", name, got, e.zero)
					}
					for p := range e.names {
						if !slices.Contains(placeholder.FindAllString(both, -1), p) {
							t.Errorf("%s: name %s unused", name, p)
						}
					}
				}
			}
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestDecodeKeepaliveItem checks the keepalive's hand-written decoding against attributevalue's
// for the fields a keepalive answers and remembers.
func TestDecodeKeepaliveItem(t *testing.T) {
	for _, r := range []sessionRecord{
		{SessionID: "s1", ExpiresAtMs: 1_700_000_060_000, KaIntervalS: 300, CreatedAtMs: 1_700_000_000_000, DueAt: 1_700_000_030_000, DueShard: "DUE#3", KaMs: 60_000},
		{SessionID: "s2", ExpiresAtMs: 1_700_003_600_000, KaIntervalS: 30, CreatedAtMs: 1_700_000_000_000, TimeLimitAtMs: 1_700_003_600_000, UsageDeadlineMs: 1_700_001_000_000, Budget: "user#u#daily"},
	} {
		item, err := attributevalue.MarshalMap(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeKeepaliveItem(item)
		if err != nil {
			t.Fatal(err)
		}
		want := sessionRecord{ExpiresAtMs: r.ExpiresAtMs, KaIntervalS: r.KaIntervalS, TimeLimitAtMs: r.TimeLimitAtMs, CreatedAtMs: r.CreatedAtMs,
			UsageDeadlineMs: r.UsageDeadlineMs, DueAt: r.DueAt, Budget: r.Budget}
		if got != want {
			t.Errorf("decodeKeepaliveItem = %+v, want %+v", got, want)
		}
		if g, w := got.session(), r.session(); !g.ExpiresAt.Equal(w.ExpiresAt) || g.Lifetime.KeepaliveInterval != w.Lifetime.KeepaliveInterval || !g.TimeLimitAt.Equal(w.TimeLimitAt) {
			t.Errorf("session() = %+v, want the answer's fields of %+v", g, w)
		}
	}
	if _, err := decodeKeepaliveItem(map[string]ddbtypes.AttributeValue{"expires_at_ms": &ddbtypes.AttributeValueMemberN{Value: "x"}}); err == nil {
		t.Error("a malformed number decoded")
	}
}
