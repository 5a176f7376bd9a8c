package directory

import (
	"encoding/json"
	"slices"
	"unicode/utf8"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// CheckSettingValue validates the new value of one setting (value nil: none was given).
func CheckSettingValue(name string, value json.RawMessage) (json.RawMessage, error) {
	if value == nil {
		return nil, policy.FieldErrorf("value", policy.CodeValueRequired, "give the new value of %s as {\"value\": ...}", name)
	}
	return settings.Validate(name, value)
}

// CheckSettingsChange validates every value and name of a settings patch (set and unset), in
// name order, before anything is written: the first problem fails the whole patch.
func CheckSettingsChange(set map[string]json.RawMessage, unset []string) (policy.SettingsChange, error) {
	if len(set) == 0 && len(unset) == 0 {
		return policy.SettingsChange{}, policy.Errorf(policy.KindInvalid, policy.CodeEmptyPatch, "give settings to change in \"set\" and/or \"unset\"")
	}
	change := policy.SettingsChange{Set: make(map[string]json.RawMessage, len(set))}
	names := make([]string, 0, len(set))
	for name := range set {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := KnownSetting(name); err != nil {
			return policy.SettingsChange{}, err
		}
		raw := set[name]
		if raw == nil {
			raw = json.RawMessage("null")
		}
		value, err := settings.Validate(name, raw)
		if err != nil {
			return policy.SettingsChange{}, err
		}
		change.Set[name] = value
	}
	names = slices.Clone(unset)
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		if err := KnownSetting(name); err != nil {
			return policy.SettingsChange{}, err
		}
		if _, both := set[name]; both {
			return policy.SettingsChange{}, policy.FieldErrorf(name, policy.CodeSetAndUnset, "%s is both set and unset", name)
		}
		change.Unset = append(change.Unset, name)
	}
	return change, nil
}

// KnownSetting fails with an invalid-input error naming the setting when the catalog does not
// have it.
func KnownSetting(name string) error {
	if _, ok := settings.Lookup(name); !ok {
		return policy.FieldErrorf(name, policy.CodeUnknownSetting, "unknown setting %q: see GET /v1/settings", truncateForMessage(name, 80))
	}
	return nil
}

// truncateForMessage shortens s for an error message.
func truncateForMessage(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
