package settings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

// refMember is one member of a volume_mapping as encoding/json reads it.
type refMember struct {
	host   string // the key, decoded
	rawKey []byte // the key as written
	val    []byte // the value as written
	k      int    // precedence position of its group
}

// refMembers splits a volume_mapping value into its members with encoding/json; ok is false
// when raw is not a valid JSON object.
func refMembers(raw []byte) (ms []refMember, ok bool) {
	if !json.Valid(raw) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		start := dec.InputOffset()
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		rawKey := bytes.TrimLeft(raw[start:dec.InputOffset()], " \t\r\n,")
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, false
		}
		ms = append(ms, refMember{host: t.(string), rawKey: rawKey, val: val})
	}
	return ms, true
}

// refPrecedence is precedence written plainly: a stable sort, then the first of each id.
func refPrecedence(groups []GroupInput) []int {
	var order []int
	for i := range groups {
		order = append(order, i)
	}
	sort.SliceStable(order, func(a, b int) bool {
		ga, gb := groups[order[a]], groups[order[b]]
		if ga.Priority != gb.Priority {
			return ga.Priority < gb.Priority
		}
		return ga.ID < gb.ID
	})
	var out []int
	for _, gi := range order {
		if len(out) == 0 || groups[out[len(out)-1]].ID != groups[gi].ID {
			out = append(out, gi)
		}
	}
	return out
}

// refMerge is the volume_mapping rule written plainly: decode every group's value, let the
// first group in precedence order (and within it the first member) have each host path, note a
// tie when a later group of the winner's priority maps it too, and encode the winners sorted by
// host path.
func refMerge(groups []GroupInput, order []int, srcs []SourceGroup) (value []byte, contributors []SourceGroup, ties []tie) {
	winners := map[string]refMember{}
	stored := false
	for k, gi := range order {
		raw := groups[gi].Settings["volume_mapping"]
		if len(raw) == 0 {
			continue
		}
		// As Resolve has always done, a stored value that is invalid still makes the result
		// a merge, of no groups, rather than the catalog default.
		stored = true
		ms, ok := refMembers(raw)
		if !ok {
			continue
		}
		contributors = append(contributors, srcs[k])
		for _, m := range ms {
			w, taken := winners[m.host]
			if !taken {
				m.k = k
				winners[m.host] = m
				continue
			}
			if w.k != k && srcs[w.k].Priority == srcs[k].Priority {
				ties = append(ties, tie{setting: "volume_mapping", hostPath: m.host, winner: w.k, other: k})
			}
		}
	}
	if !stored {
		return nil, nil, nil
	}
	sort.SliceStable(ties, func(a, b int) bool { return ties[a].hostPath < ties[b].hostPath })
	hosts := make([]string, 0, len(winners))
	for h := range winners {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	var b strings.Builder
	b.WriteByte('{')
	for i, h := range hosts {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%s", winners[h].rawKey, winners[h].val)
	}
	b.WriteByte('}')
	return []byte(b.String()), contributors, ties
}

// The host paths of randomVolumeMapping, each with the ways its key may be written.
var refHostKeys = [][]string{
	{`"/a"`, `"/\u0061"`, `"\/a"`},
	{`"/a/b"`, `"/a\/b"`},
	{`"/ab"`},
	{`"/b"`, `"/\u0062"`},
	{`"/é"`, `"/\u00e9"`},
	{`"/q\""`},
	{`"/a\\"`},
	{`""`},
}

// The values of randomVolumeMapping: mounts and other JSON, with brackets inside strings.
var refValues = []string{mount("/x"), mount("/y"), `1`, `"s}"`, `[1,{"a":"]"}]`, `{"a":"\"}"}`, `true`, `{ "sp" : [ ] }`}

// randomVolumeMapping returns a stored volume_mapping: usually a valid JSON object, sorted or
// not, with escaped keys, repeated host paths and whitespace; sometimes empty or invalid.
func randomVolumeMapping(rng *rand.Rand, maxMembers int) json.RawMessage {
	switch rng.IntN(20) {
	case 0:
		return nil
	case 1:
		return json.RawMessage(`[1]`)
	case 2:
		return json.RawMessage(`null`)
	}
	type kv struct{ host, key, val string }
	var ms []kv
	for range rng.IntN(maxMembers + 1) {
		h := rng.IntN(len(refHostKeys))
		key := refHostKeys[h][rng.IntN(len(refHostKeys[h]))]
		var host string
		_ = json.Unmarshal([]byte(key), &host)
		ms = append(ms, kv{host, key, refValues[rng.IntN(len(refValues))]})
	}
	if rng.IntN(2) == 0 { // canonical order
		slices.SortStableFunc(ms, func(a, b kv) int { return strings.Compare(a.host, b.host) })
	}
	space := func() string { return []string{"", "", " ", "\n\t"}[rng.IntN(4)] }
	var b strings.Builder
	b.WriteString(space() + "{")
	for i, m := range ms {
		if i > 0 {
			b.WriteString(space() + ",")
		}
		b.WriteString(space() + m.key + space() + ":" + space() + m.val + space())
	}
	b.WriteString("}" + space())
	raw := b.String()
	if rng.IntN(10) == 0 { // cut short: never an object
		raw = raw[:rng.IntN(len(strings.TrimRight(raw, " \n\t")))]
	}
	return json.RawMessage(raw)
}

// TestMergeVolumesMatchesReference checks mergeVolumes and precedence against the rules
// written plainly with encoding/json, on random groups: repeated ids, tied priorities, keys out
// of order or escaped, host paths given twice, invalid values, up to 60 groups and up to 40
// members.
func TestMergeVolumesMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for c := range 3000 {
		n, maxMembers := 1+rng.IntN(8), 4
		switch c % 10 {
		case 0:
			n, maxMembers = 1+rng.IntN(60), 3
		case 1: // past the insertion sort of short slices, where any sort is stable
			n, maxMembers = 1+rng.IntN(3), 40
		}
		groups := make([]GroupInput, n)
		for i := range groups {
			id := fmt.Sprintf("g%d", rng.IntN(n+1))
			groups[i] = GroupInput{ID: id, Name: "name of " + id, Priority: 1 + rng.IntN(3), Settings: map[string]json.RawMessage{}}
			if rng.IntN(8) > 0 {
				groups[i].Settings["volume_mapping"] = randomVolumeMapping(rng, maxMembers)
			}
		}
		order := precedence(groups)
		if want := refPrecedence(groups); !slices.Equal(order, want) {
			t.Fatalf("case %d: precedence: got %v, want %v", c, order, want)
		}
		srcs := make([]SourceGroup, len(order))
		for k, gi := range order {
			srcs[k] = SourceGroup{ID: groups[gi].ID, Name: groups[gi].Name, Priority: groups[gi].Priority}
		}
		got, gotTies := mergeVolumes(groups, order, srcs)
		want, wantContributors, wantTies := refMerge(groups, order, srcs)
		if !bytes.Equal(got.Value, want) {
			t.Fatalf("case %d: value:\ngot  %s\nwant %s\ngroups %+v", c, got.Value, want, groups)
		}
		if !slices.Equal(got.Source.Groups, wantContributors) {
			t.Fatalf("case %d: source groups: got %+v, want %+v", c, got.Source.Groups, wantContributors)
		}
		var members map[string]json.RawMessage
		_ = json.Unmarshal(got.Value, &members)
		if len(got.Source.Mounts) != len(members) {
			t.Fatalf("case %d: %d mounts have a source, the value has %d host paths", c, len(got.Source.Mounts), len(members))
		}
		for host, src := range got.Source.Mounts {
			if _, ok := members[host]; !ok || !slices.Contains(wantContributors, src) {
				t.Fatalf("case %d: mount %q: source %+v is not one of the contributors %+v", c, host, src, wantContributors)
			}
		}
		if !slices.Equal(gotTies, wantTies) {
			t.Fatalf("case %d: ties:\ngot  %+v\nwant %+v\ngroups %+v", c, gotTies, wantTies, groups)
		}
	}
}
