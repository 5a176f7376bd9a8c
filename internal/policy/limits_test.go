package policy

import (
	"strings"
	"testing"
)

func TestValidateGroupAndUser(t *testing.T) {
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	tests := []struct {
		name     string
		err      error
		wantCode string
	}{
		{"good group", Group{Name: "Ops", Priority: 10}.Validate(), ""},
		{"empty name", Group{Name: "  ", Priority: 10}.Validate(), CodeInvalidName},
		{"name of 128 characters", Group{Name: strings.Repeat("é", MaxGroupNameChars), Priority: 1}.Validate(), ""},
		{"name of 129 characters", Group{Name: strings.Repeat("a", MaxGroupNameChars+1), Priority: 1}.Validate(), CodeInvalidName},
		{"invisible character", Group{Name: "a\u200b", Priority: 1}.Validate(), CodeInvalidName},
		{"priority 0", Group{Name: "a", Priority: 0}.Validate(), CodeInvalidPriority},
		{"priority 4096", Group{Name: "a", Priority: MaxGroupPriority + 1}.Validate(), CodeInvalidPriority},
		{"long description", Group{Name: "a", Priority: 1, Description: strings.Repeat("d", MaxGroupDescriptionChars+1)}.Validate(), CodeInvalidDescription},
		{"patch priority", second(GroupPatch{Priority: num(5000)}.Validate()), CodeInvalidPriority},
		{"patch name", second(GroupPatch{Name: str("")}.Validate()), CodeInvalidName},
		{"good username", User{Username: "jane.doe@example.com"}.Validate(), ""},
		{"username of 129 characters", User{Username: strings.Repeat("u", MaxUsernameChars+1)}.Validate(), CodeInvalidUsername},
		{"local username with a space", ValidateLocalUsername("jane doe"), CodeInvalidUsername},
		{"local username of 128", ValidateLocalUsername(strings.Repeat("u", MaxUsernameChars)), ""},
		{"local username of 129", ValidateLocalUsername(strings.Repeat("u", MaxUsernameChars+1)), CodeInvalidUsername},
		{"any username may have a space", ValidateUsername("jane doe"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if tt.err != nil {
				got = CodeOf(tt.err)
			}
			if got != tt.wantCode {
				t.Errorf("got code %q (%v), want %q", got, tt.err, tt.wantCode)
			}
		})
	}
}

func TestGroupPatchValidateTrims(t *testing.T) {
	name := "  Ops  "
	p, err := GroupPatch{Name: &name}.Validate()
	if err != nil || *p.Name != "Ops" {
		t.Errorf("got %q, %v; want \"Ops\", nil", *p.Name, err)
	}
}

func second(_ GroupPatch, err error) error { return err }
