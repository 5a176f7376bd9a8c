package ddbstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/policy"
)

var dt0 = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)

// newDirStore returns a store on a fresh table, with a fixed clock at dt0.
func newDirStore(t *testing.T) (*ddbstore.Store, *ddbtest.Table) {
	t.Helper()
	tb := ddbtest.NewTable(t)
	return ddbstore.Open(tb.Client, tb.Name, ddbstore.WithClock(&policy.FixedClock{T: dt0})).Directory(), tb
}

// wantDirErr fails unless err is a *policy.Error (findable with errors.As) of the kind and code.
func wantDirErr(t *testing.T, err error, kind policy.Kind, code string) {
	t.Helper()
	var pe *policy.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error: got %v (%T), want a policy error %s/%s", err, err, kind, code)
	}
	if pe.Kind != kind || pe.Code != code {
		t.Fatalf("error: got %s/%s (%v), want %s/%s", pe.Kind, pe.Code, err, kind, code)
	}
}

func dirMust[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func dirGroup(t *testing.T, s *ddbstore.Store, name string, priority int) policy.Group {
	t.Helper()
	g, err := s.CreateGroup(context.Background(), policy.Group{Name: name, Priority: priority})
	if err != nil {
		t.Fatalf("create group %q: %v", name, err)
	}
	return g
}

func dirUser(t *testing.T, s *ddbstore.Store, username string) policy.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), policy.User{Username: username})
	if err != nil {
		t.Fatalf("create user %q: %v", username, err)
	}
	return u
}

func rawJSON(s string) json.RawMessage { return json.RawMessage(s) }

func dirKey(pk, sk string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		"PK": &ddbtypes.AttributeValueMemberS{Value: pk},
		"SK": &ddbtypes.AttributeValueMemberS{Value: sk},
	}
}

// dirItem reads an item directly, bypassing the store.
func dirItem(t *testing.T, tb *ddbtest.Table, pk, sk string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := tb.Client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: &tb.Name, Key: dirKey(pk, sk), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("get %s/%s: %v", pk, sk, err)
	}
	return out.Item
}

// dirPartitionSize counts the items of a partition.
func dirPartitionSize(t *testing.T, tb *ddbtest.Table, pk string) int {
	t.Helper()
	out, err := tb.Client.Query(context.Background(), &dynamodb.QueryInput{
		TableName: &tb.Name, KeyConditionExpression: aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": &ddbtypes.AttributeValueMemberS{Value: pk}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("query %s: %v", pk, err)
	}
	return len(out.Items)
}

func dirSettingsJSON(g policy.Group) string {
	b, _ := json.Marshal(g.Settings)
	return string(b)
}

func TestEnsureAllUsers(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	initial := map[string]json.RawMessage{"keepalive_expiration": rawJSON("3600"), "allow_kasm_audio": rawJSON("true")}
	if err := s.EnsureAllUsers(ctx, dt0, initial); err != nil {
		t.Fatalf("first EnsureAllUsers: %v", err)
	}
	tb.ResetCalls()
	if err := s.EnsureAllUsers(ctx, dt0.Add(time.Hour), map[string]json.RawMessage{"keepalive_expiration": rawJSON("1")}); err != nil {
		t.Fatalf("second EnsureAllUsers: %v", err)
	}
	if got := tb.Calls(); got != 1 {
		t.Errorf("requests of EnsureAllUsers once the group exists (every api cold start): got %d, want 1 read", got)
	}
	g := dirMust[policy.Group](t)(s.GetGroup(ctx, policy.AllUsersGroupID))
	if g.Name != policy.AllUsersGroupName || g.Priority != policy.AllUsersPriority || g.Version != 1 {
		t.Errorf("All Users: got name %q priority %d version %d, want %q %d 1",
			g.Name, g.Priority, g.Version, policy.AllUsersGroupName, policy.AllUsersPriority)
	}
	if got, want := dirSettingsJSON(g), `{"allow_kasm_audio":true,"keepalive_expiration":3600}`; got != want {
		t.Errorf("All Users settings (the first call's): got %s, want %s", got, want)
	}
	if !g.CreatedAt.Equal(dt0) {
		t.Errorf("created_at: got %v, want %v", g.CreatedAt, dt0)
	}
	_, err := s.CreateGroup(ctx, policy.Group{Name: "all USERS"})
	wantDirErr(t, err, policy.KindConflict, "group_name_taken")
	groups := dirMust[[]policy.Group](t)(s.ListGroups(ctx))
	if len(groups) != 1 || groups[0].ID != policy.AllUsersGroupID {
		t.Errorf("ListGroups: got %+v, want only All Users", groups)
	}
}

// Users created before All Users exists still count towards it once it does.
func TestEnsureAllUsersAfterUsers(t *testing.T) {
	s, _ := newDirStore(t)
	ctx := context.Background()
	dirUser(t, s, "early")
	_, err := s.GetGroup(ctx, policy.AllUsersGroupID)
	wantDirErr(t, err, policy.KindNotFound, "group_not_found")
	if err := s.EnsureAllUsers(ctx, dt0, nil); err != nil {
		t.Fatalf("EnsureAllUsers: %v", err)
	}
	dirUser(t, s, "late")
	g := dirMust[policy.Group](t)(s.GetGroup(ctx, policy.AllUsersGroupID))
	if g.MemberCount != 2 || g.Version != 1 || g.Name != policy.AllUsersGroupName {
		t.Errorf("All Users: got member_count %d version %d name %q, want 2 1 %q",
			g.MemberCount, g.Version, g.Name, policy.AllUsersGroupName)
	}
}

func TestCreateGroup(t *testing.T) {
	s, _ := newDirStore(t)
	ctx := context.Background()
	first := dirMust[policy.Group](t)(s.CreateGroup(ctx, policy.Group{Name: "Engineering", Description: "eng"}))
	if first.ID == "" || first.Priority != policy.DefaultGroupPriority || first.Version != 1 ||
		first.MemberCount != 0 || !first.CreatedAt.Equal(dt0) || !first.UpdatedAt.Equal(dt0) {
		t.Errorf("created group: got %+v, want a new id, priority %d, version 1, times %v",
			first, policy.DefaultGroupPriority, dt0)
	}
	if got := dirMust[policy.Group](t)(s.GetGroup(ctx, first.ID)); got.Name != "Engineering" || got.Description != "eng" {
		t.Errorf("read back: got %+v", got)
	}
	withID := dirMust[policy.Group](t)(s.CreateGroup(ctx, policy.Group{ID: "ops", Name: "Ops", Priority: 7,
		Settings: map[string]json.RawMessage{"allow_kasm_audio": rawJSON("false")}}))
	if withID.ID != "ops" || withID.Priority != 7 || dirSettingsJSON(withID) != `{"allow_kasm_audio":false}` {
		t.Errorf("group with id, priority and settings: got %+v", withID)
	}

	tests := []struct {
		name string
		g    policy.Group
		kind policy.Kind
		code string
	}{
		{"same name", policy.Group{Name: "Engineering"}, policy.KindConflict, "group_name_taken"},
		{"name differs in case and spaces", policy.Group{Name: "  engineering "}, policy.KindConflict, "group_name_taken"},
		{"same id", policy.Group{ID: "ops", Name: "Ops 2"}, policy.KindConflict, "group_id_taken"},
		{"All Users id", policy.Group{ID: policy.AllUsersGroupID, Name: "x"}, policy.KindConflict, "group_id_taken"},
		{"empty name", policy.Group{Name: "  "}, policy.KindInvalid, "invalid_name"},
		{"long name", policy.Group{Name: string(make([]byte, 257))}, policy.KindInvalid, "invalid_name"},
		{"priority too high", policy.Group{Name: "x", Priority: 4096}, policy.KindInvalid, "invalid_priority"},
		{"negative priority", policy.Group{Name: "x", Priority: -1}, policy.KindInvalid, "invalid_priority"},
		{"bad id", policy.Group{ID: "a#b", Name: "x"}, policy.KindInvalid, "invalid_id"},
		{"setting not JSON", policy.Group{Name: "x", Settings: map[string]json.RawMessage{"a": rawJSON("{")}}, policy.KindInvalid, "invalid_value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateGroup(ctx, tt.g)
			wantDirErr(t, err, tt.kind, tt.code)
		})
	}
	if got := len(dirMust[[]policy.Group](t)(s.ListGroups(ctx))); got != 2 {
		t.Errorf("groups after the failed creations: got %d, want 2", got)
	}
}

func TestGetGroupNotFound(t *testing.T) {
	s, _ := newDirStore(t)
	for _, id := range []string{"nope", "", "a#b", "GROUP"} {
		t.Run(id, func(t *testing.T) {
			_, err := s.GetGroup(context.Background(), id)
			wantDirErr(t, err, policy.KindNotFound, "group_not_found")
		})
	}
}

func TestListGroups(t *testing.T) {
	s, _ := newDirStore(t)
	ctx := context.Background()
	for _, id := range []string{"c", "a", "b"} {
		dirMust[policy.Group](t)(s.CreateGroup(ctx, policy.Group{ID: id, Name: "group " + id}))
	}
	if err := s.DeleteGroup(ctx, "b", 0); err != nil {
		t.Fatalf("delete: %v", err)
	}
	var got []string
	for _, g := range dirMust[[]policy.Group](t)(s.ListGroups(ctx)) {
		got = append(got, g.ID)
	}
	if fmt.Sprint(got) != "[a c]" {
		t.Errorf("ListGroups: got %v, want [a c]", got)
	}
}

func TestUpdateGroup(t *testing.T) {
	s, _ := newDirStore(t)
	ctx := context.Background()
	at := dt0.Add(time.Minute)
	name := func(s string) *string { return &s }
	prio := func(p int) *int { return &p }
	dirGroup(t, s, "Taken", 0)

	tests := []struct {
		name        string
		patch       policy.GroupPatch
		ifVersion   func(g policy.Group) int64
		kind        policy.Kind
		code        string
		wantName    string
		wantPrio    int
		wantVersion int64
	}{
		{"rename", policy.GroupPatch{Name: name("Renamed")}, nil, "", "", "Renamed", 4095, 2},
		{"priority and description at the version read", policy.GroupPatch{Priority: prio(10), Description: name("d")},
			func(g policy.Group) int64 { return g.Version }, "", "", "Original", 10, 2},
		{"case-only rename keeps the name", policy.GroupPatch{Name: name("ORIGINAL")}, nil, "", "", "ORIGINAL", 4095, 2},
		{"no change writes nothing", policy.GroupPatch{Name: name("Original"), Priority: prio(4095)}, nil, "", "", "Original", 4095, 1},
		{"empty patch", policy.GroupPatch{}, nil, "", "", "Original", 4095, 1},
		{"name taken", policy.GroupPatch{Name: name(" taken")}, nil, policy.KindConflict, "group_name_taken", "Original", 4095, 1},
		{"name of All Users", policy.GroupPatch{Name: name("All Users")}, nil, policy.KindConflict, "group_name_taken", "Original", 4095, 1},
		{"stale version", policy.GroupPatch{Name: name("Other")},
			func(g policy.Group) int64 { return g.Version + 1 }, policy.KindPrecondition, "version_mismatch", "Original", 4095, 1},
		{"bad priority", policy.GroupPatch{Priority: prio(0)}, nil, policy.KindInvalid, "invalid_priority", "Original", 4095, 1},
		{"empty name", policy.GroupPatch{Name: name("")}, nil, policy.KindInvalid, "invalid_name", "Original", 4095, 1},
	}
	if err := s.EnsureAllUsers(ctx, dt0, nil); err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := dirMust[policy.Group](t)(s.CreateGroup(ctx, policy.Group{ID: fmt.Sprintf("g%d", i), Name: "Original"}))
			defer func() { _ = s.DeleteGroup(ctx, g.ID, 0) }()
			var ifVersion int64
			if tt.ifVersion != nil {
				ifVersion = tt.ifVersion(g)
			}
			got, err := s.UpdateGroup(ctx, g.ID, tt.patch, ifVersion, at)
			if tt.kind != "" {
				wantDirErr(t, err, tt.kind, tt.code)
			} else if err != nil {
				t.Fatalf("update: %v", err)
			}
			read := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID))
			if read.Name != tt.wantName || read.Priority != tt.wantPrio || read.Version != tt.wantVersion {
				t.Errorf("stored: got name %q priority %d version %d, want %q %d %d",
					read.Name, read.Priority, read.Version, tt.wantName, tt.wantPrio, tt.wantVersion)
			}
			if tt.kind == "" && (got.Name != read.Name || got.Version != read.Version || !got.UpdatedAt.Equal(read.UpdatedAt)) {
				t.Errorf("returned %+v, stored %+v", got, read)
			}
			if tt.wantVersion == 2 && !read.UpdatedAt.Equal(at) {
				t.Errorf("updated_at: got %v, want %v", read.UpdatedAt, at)
			}
		})
	}

	t.Run("rename frees the old name", func(t *testing.T) {
		g := dirGroup(t, s, "Before", 0)
		dirMust[policy.Group](t)(s.UpdateGroup(ctx, g.ID, policy.GroupPatch{Name: name("After")}, 0, at))
		dirGroup(t, s, "before", 0)
		_, err := s.CreateGroup(ctx, policy.Group{Name: "AFTER"})
		wantDirErr(t, err, policy.KindConflict, "group_name_taken")
	})
	t.Run("unknown group", func(t *testing.T) {
		_, err := s.UpdateGroup(ctx, "nope", policy.GroupPatch{Name: name("x")}, 0, at)
		wantDirErr(t, err, policy.KindNotFound, "group_not_found")
	})
}

func TestChangeSettings(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	g := dirGroup(t, s, "G", 10)
	at1, at2 := dt0.Add(time.Minute), dt0.Add(2*time.Minute)

	// Values keep their exact JSON text; dotted names are single settings.
	mapping := `{"/a": {"bind": "/b",  "mode": "rw"}}`
	g1, err := s.ChangeSettings(ctx, g.ID, policy.SettingsChange{Set: map[string]json.RawMessage{
		"allow_kasm_audio": rawJSON("true"), "control_panel.show_logout": rawJSON("false"), "volume_mapping": rawJSON(mapping),
	}}, g.Version, "admin:alice", at1)
	if err != nil {
		t.Fatalf("first change: %v", err)
	}
	if g1.Version != 2 || !g1.UpdatedAt.Equal(at1) {
		t.Errorf("after the first change: got version %d updated %v, want 2 %v", g1.Version, g1.UpdatedAt, at1)
	}
	read := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID))
	if got := string(read.Settings["volume_mapping"]); got != mapping {
		t.Errorf("stored value: got %s, want exactly %s", got, mapping)
	}
	if got := string(read.Settings["control_panel.show_logout"]); got != "false" {
		t.Errorf("dotted setting: got %q, want false", got)
	}
	if item := dirItem(t, tb, "GROUP#"+g.ID, "GROUP"); item["settings"] == nil {
		t.Errorf("settings map missing on the item: %v", item)
	} else if _, nested := item["control_panel"]; nested {
		t.Errorf("a dotted setting became a nested attribute")
	}

	g2, err := s.ChangeSettings(ctx, g.ID, policy.SettingsChange{
		Set:   map[string]json.RawMessage{"allow_kasm_audio": rawJSON("false"), "volume_mapping": rawJSON(`{"/a":{"bind":"/b","mode":"rw"}}`)},
		Unset: []string{"control_panel.show_logout", "never_set"},
	}, 0, "admin:bob", at2)
	if err != nil {
		t.Fatalf("second change: %v", err)
	}
	if g2.Version != 3 || dirSettingsJSON(g2) != `{"allow_kasm_audio":false,"volume_mapping":{"/a":{"bind":"/b","mode":"rw"}}}` {
		t.Errorf("after the second change: got version %d settings %s", g2.Version, dirSettingsJSON(g2))
	}
	if got := string(g2.Settings["volume_mapping"]); got != mapping {
		t.Errorf("an equal value (up to whitespace) is not a change: got %s, want %s", got, mapping)
	}

	hist := dirMust[[]policy.HistoryEntry](t)(s.History(ctx, g.ID))
	want := []policy.HistoryEntry{
		{Actor: "admin:bob", At: at2, Setting: "control_panel.show_logout", Old: rawJSON("false")},
		{Actor: "admin:bob", At: at2, Setting: "allow_kasm_audio", Old: rawJSON("true"), New: rawJSON("false")},
		{Actor: "admin:alice", At: at1, Setting: "volume_mapping", New: rawJSON(mapping)},
		{Actor: "admin:alice", At: at1, Setting: "control_panel.show_logout", New: rawJSON("false")},
		{Actor: "admin:alice", At: at1, Setting: "allow_kasm_audio", New: rawJSON("true")},
	}
	if len(hist) != len(want) {
		t.Fatalf("history: got %d entries %+v, want %d", len(hist), hist, len(want))
	}
	for i, w := range want {
		h := hist[i]
		if h.GroupID != g.ID || h.Actor != w.Actor || !h.At.Equal(w.At) || h.Setting != w.Setting ||
			string(h.Old) != string(w.Old) || string(h.New) != string(w.New) {
			t.Errorf("history[%d]: got %s %v %s %s→%s, want %s %v %s %s→%s", i,
				h.Actor, h.At, h.Setting, h.Old, h.New, w.Actor, w.At, w.Setting, w.Old, w.New)
		}
	}

	t.Run("nothing to change writes nothing", func(t *testing.T) {
		got, err := s.ChangeSettings(ctx, g.ID, policy.SettingsChange{
			Set: map[string]json.RawMessage{"allow_kasm_audio": rawJSON(" false ")}, Unset: []string{"never_set"},
		}, 3, "admin:carol", at2)
		if err != nil {
			t.Fatalf("change: %v", err)
		}
		if got.Version != 3 {
			t.Errorf("version: got %d, want 3", got.Version)
		}
		if n := len(dirMust[[]policy.HistoryEntry](t)(s.History(ctx, g.ID))); n != len(want) {
			t.Errorf("history: got %d entries, want %d", n, len(want))
		}
	})
	t.Run("the group item carries no auto_add copy", func(t *testing.T) {
		dirMust[policy.Group](t)(s.ChangeSettings(ctx, g.ID, policy.SettingsChange{
			Set: map[string]json.RawMessage{"auto_add_local_users": rawJSON("true")}}, 0, "a", at2))
		if _, ok := dirItem(t, tb, "GROUP#"+g.ID, "GROUP")["auto_add"]; ok {
			t.Errorf("the group item has an auto_add attribute; nothing reads it (auto-add reads the settings)")
		}
	})
}

func TestChangeSettingsRejected(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	g := dirGroup(t, s, "G", 10)
	g = dirMust[policy.Group](t)(s.ChangeSettings(ctx, g.ID, policy.SettingsChange{
		Set: map[string]json.RawMessage{"a": rawJSON("1")}}, 0, "admin", dt0))
	tooMany := map[string]json.RawMessage{}
	for i := range ddbstore.MaxSettingsPerChange + 1 {
		tooMany[fmt.Sprintf("s%03d", i)] = rawJSON("1")
	}
	tests := []struct {
		name      string
		id        string
		change    policy.SettingsChange
		ifVersion int64
		kind      policy.Kind
		code      string
	}{
		{"stale version", g.ID, policy.SettingsChange{Set: map[string]json.RawMessage{"a": rawJSON("2"), "b": rawJSON("2")}},
			g.Version - 1, policy.KindPrecondition, "version_mismatch"},
		{"future version", g.ID, policy.SettingsChange{Unset: []string{"a"}}, g.Version + 1, policy.KindPrecondition, "version_mismatch"},
		{"too many settings", g.ID, policy.SettingsChange{Set: tooMany}, 0, policy.KindInvalid, "too_many_changes"},
		{"set and unset", g.ID, policy.SettingsChange{Set: map[string]json.RawMessage{"a": rawJSON("3")}, Unset: []string{"a"}},
			0, policy.KindInvalid, "set_and_unset"},
		{"not JSON", g.ID, policy.SettingsChange{Set: map[string]json.RawMessage{"a": rawJSON("tru")}}, 0, policy.KindInvalid, "invalid_value"},
		{"bad name", g.ID, policy.SettingsChange{Set: map[string]json.RawMessage{"a[0]": rawJSON("1")}}, 0, policy.KindInvalid, "unknown_setting"},
		{"unknown group", "nope", policy.SettingsChange{Set: map[string]json.RawMessage{"a": rawJSON("3")}}, 0, policy.KindNotFound, "group_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.ChangeSettings(ctx, tt.id, tt.change, tt.ifVersion, "admin", dt0.Add(time.Hour))
			wantDirErr(t, err, tt.kind, tt.code)
			got := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID))
			if got.Version != g.Version || dirSettingsJSON(got) != `{"a":1}` {
				t.Errorf("group after a rejected change: got version %d settings %s, want %d {\"a\":1}",
					got.Version, dirSettingsJSON(got), g.Version)
			}
			if n := len(dirMust[[]policy.HistoryEntry](t)(s.History(ctx, g.ID))); n != 1 {
				t.Errorf("history after a rejected change: got %d entries, want 1", n)
			}
		})
	}

	// A transaction DynamoDB cancels writes nothing: block the second history item's key.
	t.Run("cancelled transaction", func(t *testing.T) {
		_, err := tb.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &tb.Name,
			Item: dirKey("GROUP#"+g.ID, fmt.Sprintf("HIST#%019d#%03d", g.Version+1, 1))})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.ChangeSettings(ctx, g.ID, policy.SettingsChange{
			Set: map[string]json.RawMessage{"x": rawJSON("1"), "y": rawJSON("2")}}, g.Version, "admin", dt0.Add(time.Hour))
		wantDirErr(t, err, policy.KindConflict, "concurrent_change")
		got := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID))
		if got.Version != g.Version || dirSettingsJSON(got) != `{"a":1}` {
			t.Errorf("group after a cancelled transaction: got version %d settings %s", got.Version, dirSettingsJSON(got))
		}
		if item := dirItem(t, tb, "GROUP#"+g.ID, fmt.Sprintf("HIST#%019d#%03d", g.Version+1, 0)); item != nil {
			t.Errorf("history item of the cancelled change was written: %v", item)
		}
	})
}

// Concurrent writers without If-Match all succeed, one version each, and every history entry's
// old value is the previous entry's new value.
func TestChangeSettingsConcurrent(t *testing.T) {
	s, _ := newDirStore(t)
	ctx := context.Background()
	g := dirGroup(t, s, "G", 10)
	const writers = 4
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.ChangeSettings(ctx, g.ID, policy.SettingsChange{
				Set: map[string]json.RawMessage{"n": rawJSON(fmt.Sprint(i))}}, 0, fmt.Sprint("w", i), dt0)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	got := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID))
	if got.Version != 1+writers {
		t.Errorf("version: got %d, want %d", got.Version, 1+writers)
	}
	hist := dirMust[[]policy.HistoryEntry](t)(s.History(ctx, g.ID))
	if len(hist) != writers {
		t.Fatalf("history: got %d entries, want %d", len(hist), writers)
	}
	if string(hist[0].New) != string(got.Settings["n"]) {
		t.Errorf("newest entry's new value %s, stored %s", hist[0].New, got.Settings["n"])
	}
	for i := 0; i+1 < len(hist); i++ {
		if string(hist[i].Old) != string(hist[i+1].New) {
			t.Errorf("entry %d old %s, previous entry's new %s", i, hist[i].Old, hist[i+1].New)
		}
	}
	if hist[len(hist)-1].Old != nil {
		t.Errorf("first entry's old value: got %s, want none", hist[len(hist)-1].Old)
	}
}

func TestHistory(t *testing.T) {
	s, _ := newDirStore(t)
	ctx := context.Background()
	g := dirGroup(t, s, "G", 10)
	t.Run("empty", func(t *testing.T) {
		h, err := s.History(ctx, g.ID)
		if err != nil || h == nil || len(h) != 0 {
			t.Errorf("history of a new group: got %v, %v; want an empty list", h, err)
		}
	})
	t.Run("unknown group", func(t *testing.T) {
		_, err := s.History(ctx, "nope")
		wantDirErr(t, err, policy.KindNotFound, "group_not_found")
	})
	t.Run("newest first across many changes", func(t *testing.T) {
		for i := range 12 {
			dirMust[policy.Group](t)(s.ChangeSettings(ctx, g.ID, policy.SettingsChange{
				Set: map[string]json.RawMessage{"n": rawJSON(fmt.Sprint(i))}}, 0, "admin", dt0.Add(time.Duration(i)*time.Second)))
		}
		h := dirMust[[]policy.HistoryEntry](t)(s.History(ctx, g.ID))
		if len(h) != 12 {
			t.Fatalf("entries: got %d, want 12", len(h))
		}
		for i, e := range h {
			if want := fmt.Sprint(11 - i); string(e.New) != want {
				t.Errorf("entry %d: got new %s, want %s", i, e.New, want)
			}
		}
	})
}

func TestDeleteGroup(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	if err := s.EnsureAllUsers(ctx, dt0, nil); err != nil {
		t.Fatal(err)
	}
	g := dirGroup(t, s, "Doomed", 10)
	other := dirGroup(t, s, "Other", 20)
	var users []policy.User
	for i := range 3 {
		u := dirUser(t, s, fmt.Sprint("user", i))
		for _, gid := range []string{g.ID, other.ID} {
			if err := s.AddMember(ctx, gid, u.ID, dt0); err != nil {
				t.Fatal(err)
			}
		}
		users = append(users, u)
	}
	g = dirMust[policy.Group](t)(s.ChangeSettings(ctx, g.ID, policy.SettingsChange{
		Set: map[string]json.RawMessage{"a": rawJSON("1"), "b": rawJSON("2")}}, 0, "admin", dt0))

	t.Run("All Users", func(t *testing.T) {
		wantDirErr(t, s.DeleteGroup(ctx, policy.AllUsersGroupID, 0), policy.KindConflict, "builtin_group")
	})
	t.Run("stale version writes nothing", func(t *testing.T) {
		wantDirErr(t, s.DeleteGroup(ctx, g.ID, g.Version-1), policy.KindPrecondition, "version_mismatch")
		if got := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID)); got.Version != g.Version || got.MemberCount != 3 {
			t.Errorf("group after a stale delete: got version %d members %d", got.Version, got.MemberCount)
		}
	})
	t.Run("unknown group", func(t *testing.T) {
		wantDirErr(t, s.DeleteGroup(ctx, "nope", 0), policy.KindNotFound, "group_not_found")
	})
	t.Run("delete", func(t *testing.T) {
		if err := s.DeleteGroup(ctx, g.ID, g.Version); err != nil {
			t.Fatalf("delete: %v", err)
		}
		_, err := s.GetGroup(ctx, g.ID)
		wantDirErr(t, err, policy.KindNotFound, "group_not_found")
		if n := dirPartitionSize(t, tb, "GROUP#"+g.ID); n != 0 {
			t.Errorf("items left under the group (members, history): got %d, want 0", n)
		}
		for _, u := range users {
			got := dirMust[policy.User](t)(s.GetUser(ctx, u.ID))
			if want := fmt.Sprint([]string{policy.AllUsersGroupID, other.ID}); fmt.Sprint(got.GroupIDs) != want {
				t.Errorf("groups of %s: got %v, want %s", u.ID, got.GroupIDs, want)
			}
		}
		if got := dirMust[policy.Group](t)(s.GetGroup(ctx, other.ID)); got.MemberCount != 3 {
			t.Errorf("other group's members: got %d, want 3", got.MemberCount)
		}
		dirGroup(t, s, "doomed", 0) // the name is free again
		wantDirErr(t, s.DeleteGroup(ctx, g.ID, 0), policy.KindNotFound, "group_not_found")
	})
}

// A deletion interrupted after the group was marked is invisible and completes on retry.
func TestDeleteGroupResumes(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	g := dirGroup(t, s, "Half", 10)
	u := dirUser(t, s, "u")
	if err := s.AddMember(ctx, g.ID, u.ID, dt0); err != nil {
		t.Fatal(err)
	}
	_, err := tb.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &tb.Name, Key: dirKey("GROUP#"+g.ID, "GROUP"),
		UpdateExpression:          aws.String("SET deleting = :t"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":t": &ddbtypes.AttributeValueMemberBOOL{Value: true}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.GetGroup(ctx, g.ID)
	wantDirErr(t, err, policy.KindNotFound, "group_not_found")
	wantDirErr(t, s.AddMember(ctx, g.ID, dirUser(t, s, "v").ID, dt0), policy.KindNotFound, "group_not_found")
	if _, groups, err := s.UserWithGroups(ctx, u.ID); err != nil || len(groups) != 0 {
		t.Errorf("groups of a member of a deleting group: got %v, %v; want none", groups, err)
	}
	if err := s.DeleteGroup(ctx, g.ID, 12345); err != nil {
		t.Fatalf("resumed delete (its version is no longer checked): %v", err)
	}
	if n := dirPartitionSize(t, tb, "GROUP#"+g.ID); n != 0 {
		t.Errorf("items left under the group: got %d, want 0", n)
	}
	if got := dirMust[policy.User](t)(s.GetUser(ctx, u.ID)); len(got.GroupIDs) != 1 {
		t.Errorf("user's groups: got %v, want only All Users", got.GroupIDs)
	}
}

// Writers racing with the same If-Match version: exactly one wins, the others get
// version_mismatch (from the read or from the write's condition) and write nothing.
func TestChangeSettingsIfMatchConcurrent(t *testing.T) {
	s, _ := newDirStore(t)
	ctx := context.Background()
	g := dirGroup(t, s, "G", 10)
	const writers = 6
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.ChangeSettings(ctx, g.ID, policy.SettingsChange{
				Set: map[string]json.RawMessage{"n": rawJSON(fmt.Sprint(i)), fmt.Sprint("only", i): rawJSON("true")}}, g.Version, "w", dt0)
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Errorf("writers %d and %d both succeeded with the same version", winner, i)
			}
			winner = i
			continue
		}
		wantDirErr(t, err, policy.KindPrecondition, "version_mismatch")
	}
	if winner < 0 {
		t.Fatal("no writer succeeded")
	}
	got := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID))
	if want := fmt.Sprintf(`{"n":%d,"only%d":true}`, winner, winner); got.Version != 2 || dirSettingsJSON(got) != want {
		t.Errorf("group: got version %d settings %s, want 2 %s", got.Version, dirSettingsJSON(got), want)
	}
	if n := len(dirMust[[]policy.HistoryEntry](t)(s.History(ctx, g.ID))); n != 2 {
		t.Errorf("history: got %d entries, want the winner's 2", n)
	}
}

// takeResyncMarkers returns the "kind#id" of every re-sync marker and deletes them.
func takeResyncMarkers(t *testing.T, tb *ddbtest.Table) []string {
	t.Helper()
	ctx := context.Background()
	out, err := tb.Client.Query(ctx, &dynamodb.QueryInput{
		TableName: &tb.Name, KeyConditionExpression: aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": &ddbtypes.AttributeValueMemberS{Value: "RESYNC"}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, item := range out.Items {
		sk := item["SK"].(*ddbtypes.AttributeValueMemberS).Value
		if i := strings.Index(sk, "#"); i >= 0 {
			got = append(got, sk[i+1:])
		}
		if _, err := tb.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &tb.Name, Key: dirKey("RESYNC", sk)}); err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(got)
	return got
}

// Writes that can change a user's lifetime settings leave a re-sync marker for the sweep in
// the same transaction; others leave none.
func TestDirectoryResyncMarkers(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	g := dirGroup(t, s, "G", 10)
	u := dirMust[policy.User](t)(s.CreateUser(ctx, policy.User{ID: "u1", Username: "alice"}))
	name, prio := "H", 5
	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"create group and user", func() error { return nil }, "[]"},
		{"add member", func() error { return s.AddMember(ctx, g.ID, u.ID, dt0) }, "[user#u1]"},
		{"add member again", func() error { return s.AddMember(ctx, g.ID, u.ID, dt0) }, "[]"},
		{"settings", func() error {
			_, err := s.ChangeSettings(ctx, g.ID, policy.SettingsChange{Set: map[string]json.RawMessage{"a": rawJSON("1")}}, 0, "x", dt0)
			return err
		}, fmt.Sprintf("[group#%s]", g.ID)},
		{"rename", func() error {
			_, err := s.UpdateGroup(ctx, g.ID, policy.GroupPatch{Name: &name}, 0, dt0)
			return err
		}, "[]"},
		{"priority", func() error {
			_, err := s.UpdateGroup(ctx, g.ID, policy.GroupPatch{Priority: &prio}, 0, dt0)
			return err
		}, fmt.Sprintf("[group#%s]", g.ID)},
		{"remove member", func() error { return s.RemoveMember(ctx, g.ID, u.ID, dt0) }, "[user#u1]"},
		{"delete group", func() error {
			if err := s.AddMember(ctx, g.ID, u.ID, dt0); err != nil {
				return err
			}
			takeResyncMarkers(t, tb)
			return s.DeleteGroup(ctx, g.ID, 0)
		}, "[user#u1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(takeResyncMarkers(t, tb)); got != tt.want {
				t.Errorf("re-sync markers: got %s, want %s", got, tt.want)
			}
		})
	}
}
