package ddbstore

import (
	"regexp"
	"slices"
	"testing"

	"wspolicy/internal/tabledef"
)

// TestIndexesCopyNothingAKeepaliveWrites checks the table definition against every attribute
// the keepalive's UpdateItem variants set (and the usage gate a refresh moves): none is an
// index key or an attribute an index copies, so a keepalive writes no index.
func TestIndexesCopyNothingAKeepaliveWrites(t *testing.T) {
	placeholder := regexp.MustCompile(`#\w+`)
	written := []string{sessAttrUsageDeadline}
	for _, byOwner := range keepaliveExprs {
		for _, e := range byOwner {
			for _, p := range placeholder.FindAllString(e.update, -1) {
				written = append(written, e.names[p])
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
