// Package settings is the group settings catalog as data: every setting's type, default, All
// Users value, rule and constraints, strict validation of values, relation warnings, and the
// resolution of a user's effective settings from their groups, each value with its source.
// It is pure Go and does no I/O.
package settings

import (
	"encoding/json"
	"slices"
)

// Type is the JSON type and meaning of a setting's value.
type Type string

// The value types of the catalog.
const (
	TypeBool   Type = "bool"   // JSON true or false
	TypeInt    Type = "int"    // whole number within Min..Max
	TypeNumber Type = "number" // decimal number within Min..Max
	TypeString Type = "string" // free text
	TypeEnum   Type = "enum"   // one of Enum
	TypeURL    Type = "url"    // absolute http(s) URL, or "" when AllowEmpty
	TypeID     Type = "id"     // opaque reference to another object, or "" when AllowEmpty
	TypeObject Type = "object" // JSON object of the given Shape
)

// Rule says how the values of a user's groups combine into the effective value.
type Rule string

// The combination rules.
const (
	// RuleLowest takes the value of the group with the lowest priority number that sets it.
	RuleLowest Rule = "lowest"
	// RuleMerged combines the values of all the user's groups (volume_mapping only).
	RuleMerged Rule = "merged"
)

// The shapes of object settings.
const (
	ShapeUsageLimit    = "usage_limit"
	ShapeVolumeMapping = "volume_mapping"
	ShapeRunConfig     = "run_config"
)

// The units of numeric settings.
const (
	UnitSeconds = "seconds"
	UnitMinutes = "minutes"
)

// MaxValueBytes bounds the size of one setting value as JSON text.
const MaxValueBytes = 16 << 10

// MaxIDLength bounds the length, in characters, of id and string values.
const MaxIDLength = 256

// Setting describes one group setting of the catalog.
type Setting struct {
	Name        string
	Type        Type
	Rule        Rule
	Description string
	// Default is the value a user gets when none of their groups sets the setting.
	Default json.RawMessage
	// AllUsers is the value the built-in All Users group is created with; nil when it holds none.
	AllUsers json.RawMessage
	// Min and Max bound numeric values, inclusive unless ExclusiveMin.
	Min, Max     *float64
	ExclusiveMin bool
	Enum         []string
	// Unit is UnitSeconds, UnitMinutes or "".
	Unit string
	// Shape names the object shape: ShapeUsageLimit, ShapeVolumeMapping or ShapeRunConfig.
	Shape string
	// AllowEmpty allows "" for url and id settings.
	AllowEmpty bool
	// ClientFacing marks settings delivered to the client in a session's client_settings.
	ClientFacing bool
	// GroupProperty marks a property of the group itself rather than of its members' sessions.
	GroupProperty bool
}

type constraintsJSON struct {
	Min          *float64 `json:"min,omitempty"`
	Max          *float64 `json:"max,omitempty"`
	ExclusiveMin bool     `json:"exclusive_min,omitempty"`
	Enum         []string `json:"enum,omitempty"`
	Unit         string   `json:"unit,omitempty"`
	Shape        string   `json:"shape,omitempty"`
	AllowEmpty   bool     `json:"allow_empty,omitempty"`
}

type settingJSON struct {
	Name          string          `json:"name"`
	Type          Type            `json:"type"`
	Default       json.RawMessage `json:"default"`
	AllUsersValue json.RawMessage `json:"all_users_value"`
	Rule          Rule            `json:"rule"`
	Description   string          `json:"description"`
	Constraints   constraintsJSON `json:"constraints"`
}

// MarshalJSON renders the setting as it appears in the catalog of GET /v1/settings.
func (s Setting) MarshalJSON() ([]byte, error) {
	return json.Marshal(settingJSON{
		Name:          s.Name,
		Type:          s.Type,
		Default:       s.Default,
		AllUsersValue: s.AllUsers,
		Rule:          s.Rule,
		Description:   s.Description,
		Constraints: constraintsJSON{
			Min:          s.Min,
			Max:          s.Max,
			ExclusiveMin: s.ExclusiveMin,
			Enum:         s.Enum,
			Unit:         s.Unit,
			Shape:        s.Shape,
			AllowEmpty:   s.AllowEmpty,
		},
	})
}

// clone returns a copy of s that shares no memory with it.
func (s Setting) clone() Setting {
	s.Default = slices.Clone(s.Default)
	s.AllUsers = slices.Clone(s.AllUsers)
	s.Enum = slices.Clone(s.Enum)
	if s.Min != nil {
		v := *s.Min
		s.Min = &v
	}
	if s.Max != nil {
		v := *s.Max
		s.Max = &v
	}
	return s
}

// catalogIndex is the catalog sorted by name with a map from name to position.
type catalogIndex struct {
	list   []Setting
	byName map[string]int
	volume int // position of volume_mapping
	// defaults holds every Default back to back; entry i spans defaultAt[i]:defaultAt[i+1].
	defaults  []byte
	defaultAt []int
}

// catalog is built once from catalogData; nothing modifies it afterwards.
var catalog = buildCatalog(catalogData())

func buildCatalog(list []Setting) catalogIndex {
	slices.SortFunc(list, func(a, b Setting) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	c := catalogIndex{list: list, byName: make(map[string]int, len(list)), volume: -1}
	c.defaultAt = append(c.defaultAt, 0)
	for i, s := range list {
		c.byName[s.Name] = i
		c.defaults = append(c.defaults, s.Default...)
		c.defaultAt = append(c.defaultAt, len(c.defaults))
		if s.Rule == RuleMerged {
			c.volume = i
		}
	}
	return c
}

// lookup returns the catalog entry for name without copying it; callers must not modify it.
func lookup(name string) (*Setting, bool) {
	i, ok := catalog.byName[name]
	if !ok {
		return nil, false
	}
	return &catalog.list[i], true
}

// Catalog returns every setting, sorted by name; the caller may modify the copy it gets.
func Catalog() []Setting {
	out := make([]Setting, len(catalog.list))
	for i, s := range catalog.list {
		out[i] = s.clone()
	}
	return out
}

// Lookup returns the setting called name and whether the catalog has it.
func Lookup(name string) (Setting, bool) {
	s, ok := lookup(name)
	if !ok {
		return Setting{}, false
	}
	return s.clone(), true
}
