package ddbstore

import (
	"regexp"
	"slices"
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
	written := []string{sessAttrUsageDeadline}
	for _, byOwner := range keepaliveExprs {
		for _, byMove := range byOwner {
			for moveDue, e := range byMove {
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
	if !slices.Contains(written, sessAttrExpiresAt) || !slices.Contains(written, sessAttrLastKeepalive) {
		t.Fatalf("written attributes %v miss the expiry or the last keepalive", written)
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
