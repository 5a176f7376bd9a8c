package settings

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchGroups builds n groups with random priorities, each setting every setting of the
// catalog with a valid, canonical value; every group maps two host paths, one of them shared
// by all groups.
func benchGroups(n int) []GroupInput {
	rng := rand.New(rand.NewPCG(1, 2))
	groups := make([]GroupInput, n)
	for i := range groups {
		settings := make(map[string]json.RawMessage, len(catalog.list))
		for _, s := range Catalog() {
			v := s.Default
			if s.AllUsers != nil && rng.IntN(2) == 0 {
				v = s.AllUsers
			}
			settings[s.Name] = v
		}
		settings["usage_limit"] = json.RawMessage(`{"type":"per_user","interval":"weekly","hours":10}`)
		settings["run_config"] = json.RawMessage(`{"hostname":"ws","environment":{"LANG":"en_US.UTF-8"}}`)
		vm, err := Validate("volume_mapping", json.RawMessage(fmt.Sprintf(
			`{"/mnt/shared":{"bind":"/shared","mode":"ro","uid":1000,"gid":1000},"/mnt/g%d/{username}":{"bind":"/home/kasm-user/g%d","mode":"rw","uid":1000,"gid":1000}}`, i, i)))
		if err != nil {
			panic(err)
		}
		settings["volume_mapping"] = vm
		groups[i] = GroupInput{ID: fmt.Sprintf("g_%03d", i), Name: fmt.Sprintf("Group %d", i), Priority: 1 + rng.IntN(4095), Settings: settings}
	}
	return groups
}

func benchmarkResolve(b *testing.B, n int) {
	groups := benchGroups(n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := Resolve(groups)
		if len(r.Settings) != len(catalog.list) {
			b.Fatalf("got %d settings", len(r.Settings))
		}
	}
}

func BenchmarkResolve1Group(b *testing.B)   { benchmarkResolve(b, 1) }
func BenchmarkResolve10Groups(b *testing.B) { benchmarkResolve(b, 10) }
func BenchmarkResolve50Groups(b *testing.B) { benchmarkResolve(b, 50) }
