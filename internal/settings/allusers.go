package settings

import "encoding/json"

// AllUsersValues returns the catalog's All Users column, the settings the built-in All Users
// group is created with, as a fresh map whose values share no memory with the catalog.
func AllUsersValues() map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, s := range Catalog() {
		if s.AllUsers != nil {
			out[s.Name] = s.AllUsers
		}
	}
	return out
}
