package ddbstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"wspolicy/internal/policy"
)

// Context added by the exported methods keeps the policy error findable.
func TestWrappedPolicyError(t *testing.T) {
	err := fmt.Errorf("change settings of group %s: %w", "g1", errVersionMismatch("g1", 3, 4))
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Kind != policy.KindPrecondition || pe.Code != "version_mismatch" {
		t.Fatalf("errors.As: got %+v", pe)
	}
	if want := "change settings of group g1: group g1 is at version 4, not 3"; err.Error() != want {
		t.Errorf("message: got %q, want %q", err.Error(), want)
	}
}

func TestDiffSettings(t *testing.T) {
	current := map[string]string{"a": "1", "b": `{"x": 1}`, "c": "true"}
	tests := []struct {
		name   string
		change policy.SettingsChange
		want   string
	}{
		{"set new", policy.SettingsChange{Set: map[string]json.RawMessage{"d": json.RawMessage("2")}}, "[{d  2}]"},
		{"replace", policy.SettingsChange{Set: map[string]json.RawMessage{"a": json.RawMessage("2")}}, "[{a 1 2}]"},
		{"equal up to whitespace", policy.SettingsChange{Set: map[string]json.RawMessage{"b": json.RawMessage(`{ "x":1 }`)}}, "[]"},
		{"unset", policy.SettingsChange{Unset: []string{"c", "c"}}, "[{c true }]"},
		{"unset what is not set", policy.SettingsChange{Unset: []string{"zz"}}, "[]"},
		{"ordered by name", policy.SettingsChange{Set: map[string]json.RawMessage{"z": json.RawMessage("0"), "a": json.RawMessage("0")},
			Unset: []string{"b"}}, `[{a 1 0} {b {"x": 1} } {z  0}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diffSettings(current, tt.change)
			if s := fmt.Sprint(got); s != tt.want && !(len(got) == 0 && tt.want == "[]") {
				t.Errorf("diffSettings: got %s, want %s", s, tt.want)
			}
		})
	}
}

func TestSettingPath(t *testing.T) {
	e, err := expression.NewBuilder().WithUpdate(
		expression.Set(settingPath("control_panel.show_logout"), expression.Value("true"))).Build()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(e.Update()), "SET #0.#1 = :0\n"; got != want {
		t.Errorf("update: got %q, want %q", got, want)
	}
	if got := fmt.Sprint(e.Names()); got != "map[#0:settings #1:control_panel.show_logout]" {
		t.Errorf("names: got %s", got)
	}
}

func TestRecordConversions(t *testing.T) {
	u := userRecord{ID: "u", Username: "n", Groups: []string{"z", "b", policy.AllUsersGroupID}}.user()
	if want := "[" + policy.AllUsersGroupID + " b z]"; fmt.Sprint(u.GroupIDs) != want {
		t.Errorf("user groups: got %v, want %s", u.GroupIDs, want)
	}
}
