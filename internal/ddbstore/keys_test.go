package ddbstore

import (
	"sort"
	"testing"
)

func TestKeys(t *testing.T) {
	tests := []struct {
		name string
		got  tableKey
		want tableKey
	}{
		{"group", groupKey("g_1"), tableKey{PK: "GROUP#g_1", SK: "GROUP"}},
		{"group member", groupMemberKey("g_1", "u_2"), tableKey{PK: "GROUP#g_1", SK: "MEMBER#u_2"}},
		{"history", groupHistoryKey("g_1", 42, 7), tableKey{PK: "GROUP#g_1", SK: "HIST#0000000000000000042#007"}},
		{"group name", groupNameKey("  Admins "), tableKey{PK: "GROUPNAME#admins", SK: "GROUPNAME"}},
		// Inner runs of white space count as one space: HTML (the console) shows them as one.
		{"group name keeps # and one inner space", groupNameKey("Team #1  East"), tableKey{PK: "GROUPNAME#team #1 east", SK: "GROUPNAME"}},
		{"group name is NFKC and case folded", groupNameKey("ＴＥＡＭ Straße"), tableKey{PK: "GROUPNAME#team strasse", SK: "GROUPNAME"}},
		{"user", userKey("u_2"), tableKey{PK: "USER#u_2", SK: "USER"}},
		{"username", usernameKey("Alice"), tableKey{PK: "USERNAME#alice", SK: "USERNAME"}},
		{"user's api key", userAPIKeyKey("u_2", "k_3"), tableKey{PK: "USER#u_2", SK: "KEY#k_3"}},
		{"api key by hash", apiKeyHashKey("ab12"), tableKey{PK: "KEY#ab12", SK: "KEY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %+v, want %+v", tt.got, tt.want)
			}
		})
	}
}

func TestNormalizedName(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"lower-cases", "All Users", "all users"},
		{"trims", "\t Admins\n", "admins"},
		{"unicode", "ÉQUIPE", "équipe"},
		{"empty", "  ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := normalizedName(tt.in); got != tt.want {
				t.Errorf("normalizedName(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// The history sort key must order by version numerically, then by position, as strings.
func TestGroupHistoryKeyOrder(t *testing.T) {
	inOrder := []tableKey{
		groupHistoryKey("g", 1, 0),
		groupHistoryKey("g", 1, 1),
		groupHistoryKey("g", 1, 10),
		groupHistoryKey("g", 2, 0),
		groupHistoryKey("g", 9, 98),
		groupHistoryKey("g", 10, 0),
		groupHistoryKey("g", 1<<62, 0),
	}
	sks := make([]string, len(inOrder))
	for i, k := range inOrder {
		sks[i] = k.SK
	}
	if !sort.StringsAreSorted(sks) {
		t.Errorf("history sort keys are not in version order: %q", sks)
	}
}

func TestKeyAttributes(t *testing.T) {
	attrs := groupKey("g_1").Attributes()
	if got := len(attrs); got != 2 {
		t.Fatalf("attributes: got %d, want 2", got)
	}
	for _, name := range []string{"PK", "SK"} {
		if _, ok := attrs[name]; !ok {
			t.Errorf("attributes: missing %s", name)
		}
	}
}
