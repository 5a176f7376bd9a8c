package preview

import (
	"encoding/json"
	"fmt"
	"testing"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// BenchmarkUserDiff is the in-memory work of a preview per affected user: both resolutions and
// their difference, for a member of a group and All Users (with the catalog's All Users values).
func BenchmarkUserDiff(b *testing.B) {
	all := policy.Group{ID: policy.AllUsersGroupID, Name: "All Users", Priority: 1000, Settings: settings.AllUsersValues(), Version: 1}
	g := policy.Group{ID: "g1", Name: "G", Priority: 10, Settings: map[string]json.RawMessage{"keepalive_expiration": json.RawMessage("3600")}, Version: 2}
	groups := map[string]policy.Group{all.ID: all, g.ID: g}
	c := Change{Kind: KindSettings, Settings: policy.SettingsChange{Set: map[string]json.RawMessage{"keepalive_expiration": json.RawMessage("900")}}}
	u := policy.User{ID: "u1", GroupIDs: []string{policy.AllUsersGroupID, g.ID}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		before, after := UserGroups(u, groups, g, c)
		rb, ra := settings.ResolveGroups(before), settings.ResolveGroups(after)
		if d := DiffSettings(rb, ra); len(d) != 1 {
			b.Fatal(fmt.Sprint(d))
		}
		_ = NewWarnings(rb.Warnings, ra.Warnings)
	}
}
