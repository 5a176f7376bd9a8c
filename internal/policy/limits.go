package policy

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// The limits on groups and users, in one place: the API, the Kasm API, sign-in and the store
// check them here, and GET /v1/limits serves them to the console.
const (
	// MaxGroupNameChars bounds a group name, in characters (Unicode code points).
	MaxGroupNameChars = 128
	// MaxGroupDescriptionChars bounds a group description, in characters.
	MaxGroupDescriptionChars = 1024
	// MinGroupPriority and MaxGroupPriority bound a group's priority (lower wins).
	MinGroupPriority = 1
	MaxGroupPriority = 4095
	// MaxUsernameChars bounds a username, in characters.
	MaxUsernameChars = 128
)

// Limits are the limits a client needs to check input before sending it (GET /v1/limits).
type Limits struct {
	GroupNameMaxChars        int `json:"group_name_max_chars"`
	GroupDescriptionMaxChars int `json:"group_description_max_chars"`
	GroupPriorityMin         int `json:"group_priority_min"`
	GroupPriorityMax         int `json:"group_priority_max"`
	GroupPriorityDefault     int `json:"group_priority_default"`
	AllUsersPriority         int `json:"all_users_priority"`
	UsernameMaxChars         int `json:"username_max_chars"`
	GroupsPerUserMax         int `json:"groups_per_user_max"`
}

// CurrentLimits returns the limits the service enforces.
func CurrentLimits() Limits {
	return Limits{
		GroupNameMaxChars:        MaxGroupNameChars,
		GroupDescriptionMaxChars: MaxGroupDescriptionChars,
		GroupPriorityMin:         MinGroupPriority,
		GroupPriorityMax:         MaxGroupPriority,
		GroupPriorityDefault:     DefaultGroupPriority,
		AllUsersPriority:         AllUsersPriority,
		UsernameMaxChars:         MaxUsernameChars,
		GroupsPerUserMax:         MaxGroupsPerUser,
	}
}

// ValidateGroupName checks a group name as given (surrounding spaces are trimmed first) and
// returns it trimmed.
func ValidateGroupName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", FieldErrorf("name", CodeInvalidName, "name must not be empty")
	case utf8.RuneCountInString(name) > MaxGroupNameChars:
		return "", FieldErrorf("name", CodeInvalidName, "name must be at most %d characters", MaxGroupNameChars)
	case NameProblem(name) != "":
		return "", FieldErrorf("name", CodeInvalidName, "name %s", NameProblem(name))
	}
	return name, nil
}

// ValidateGroupPriority checks a group's priority.
func ValidateGroupPriority(p int) error {
	if p < MinGroupPriority || p > MaxGroupPriority {
		return FieldErrorf("priority", CodeInvalidPriority, "priority must be a whole number from %d to %d (lower wins)", MinGroupPriority, MaxGroupPriority)
	}
	return nil
}

// ValidateGroupDescription checks a group's description.
func ValidateGroupDescription(d string) error {
	if utf8.RuneCountInString(d) > MaxGroupDescriptionChars {
		return FieldErrorf("description", CodeInvalidDescription, "description must be at most %d characters", MaxGroupDescriptionChars)
	}
	return nil
}

// Validate checks the fields a patch changes and returns it with the name trimmed.
func (p GroupPatch) Validate() (GroupPatch, error) {
	if p.Name != nil {
		name, err := ValidateGroupName(*p.Name)
		if err != nil {
			return GroupPatch{}, err
		}
		p.Name = &name
	}
	if p.Priority != nil {
		if err := ValidateGroupPriority(*p.Priority); err != nil {
			return GroupPatch{}, err
		}
	}
	if p.Description != nil {
		if err := ValidateGroupDescription(*p.Description); err != nil {
			return GroupPatch{}, err
		}
	}
	return p, nil
}

// Validate checks a group's name, priority and description.
func (g Group) Validate() error {
	if _, err := ValidateGroupName(g.Name); err != nil {
		return err
	}
	if err := ValidateGroupPriority(g.Priority); err != nil {
		return err
	}
	return ValidateGroupDescription(g.Description)
}

// ValidateUsername checks a username of any origin (the Kasm API, sign-in, the store): at
// most MaxUsernameChars characters, and a name by NameProblem.
func ValidateUsername(name string) error {
	if utf8.RuneCountInString(name) > MaxUsernameChars {
		return FieldErrorf("username", CodeInvalidUsername, "username must be at most %d characters", MaxUsernameChars)
	}
	if p := NameProblem(name); p != "" {
		return FieldErrorf("username", CodeInvalidUsername, "username %s", p)
	}
	return nil
}

// localUsernamePattern keeps usernames safe to substitute for {username} in host paths and
// environment variables: letters, digits and . _ @ + -, starting with a letter or digit.
var localUsernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]*$`)

// ValidateLocalUsername checks the username of a user an administrator creates with
// POST /v1/users: besides ValidateUsername, only letters, digits and . _ @ + -, starting with a
// letter or digit.
func ValidateLocalUsername(name string) error {
	if !localUsernamePattern.MatchString(name) || utf8.RuneCountInString(name) > MaxUsernameChars {
		return FieldErrorf("username", CodeInvalidUsername,
			"username must be 1 to %d letters, digits, '.', '_', '@', '+' or '-', starting with a letter or digit", MaxUsernameChars)
	}
	return ValidateUsername(name)
}

// Validate checks a user's username (ValidateUsername).
func (u User) Validate() error {
	return ValidateUsername(u.Username)
}
