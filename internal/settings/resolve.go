package settings

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"wspolicy/internal/policy"
)

// GroupInput is one of a user's groups as Resolve needs it: its settings hold values already
// validated (ideally the canonical JSON Validate returned).
type GroupInput struct {
	ID       string
	Name     string
	Priority int
	Settings map[string]json.RawMessage
}

// SourceGroup identifies the group an effective value came from.
type SourceGroup struct {
	ID       string `json:"group_id"`
	Name     string `json:"name"`
	Priority int    `json:"priority"`
}

// The kinds of Source.
const (
	SourceKindGroup   = "group"   // one group supplied the value (rule lowest)
	SourceKindGroups  = "groups"  // the value merges the groups listed (rule merged)
	SourceKindDefault = "default" // no group sets it: the catalog default
)

// Source says where an effective value came from.
type Source struct {
	Kind   string        `json:"kind"`
	Group  *SourceGroup  `json:"group,omitempty"`
	Groups []SourceGroup `json:"groups,omitempty"`
	// Mounts says, for a merged volume_mapping, which group supplied each host path.
	Mounts map[string]SourceGroup `json:"mounts,omitempty"`
}

// Effective is a user's effective value of one setting with its source.
type Effective struct {
	Value  json.RawMessage `json:"value"`
	Source Source          `json:"source"`
}

// Resolution is a user's effective settings: every setting of the catalog, plus warnings.
type Resolution struct {
	Settings map[string]Effective `json:"settings"`
	Warnings []Warning            `json:"warnings"`
}

// Resolve computes the effective value of every setting of the catalog from a user's groups.
// A lowest setting takes the value of the group with the lowest priority number that sets it;
// on equal priority the lexically smaller group id wins and a priority_tie warning names the
// setting and the groups. volume_mapping is the union of every group's map; on the same host
// path the group that comes first in that order wins (a tie on priority is again a warning),
// and its source lists, in precedence order, the groups that set volume_mapping. A setting no
// group sets takes the catalog default. The relation warnings are computed on the effective
// values. A group listed twice counts once. Values share memory with the inputs and must not be
// modified; stored values that are not valid JSON objects are ignored for volume_mapping.
func Resolve(groups []GroupInput) Resolution {
	order := precedence(groups)
	srcs := make([]SourceGroup, len(order))
	for k, gi := range order {
		g := &groups[gi]
		srcs[k] = SourceGroup{ID: g.ID, Name: g.Name, Priority: g.Priority}
	}
	// Defaults are copied so callers cannot change the catalog's, all at once (the catalog's
	// defaults take a few hundred bytes) and only when a setting falls back to one.
	var arena []byte
	dflt := func(i int) Effective {
		if arena == nil {
			arena = slices.Clone(catalog.defaults)
		}
		from, to := catalog.defaultAt[i], catalog.defaultAt[i+1]
		return Effective{Value: arena[from:to:to], Source: Source{Kind: SourceKindDefault}}
	}
	out := Resolution{Settings: make(map[string]Effective, len(catalog.list)), Warnings: []Warning{}}
	var ties []tie
	for i := range catalog.list {
		s := &catalog.list[i]
		if i == catalog.volume {
			e, t := mergeVolumes(groups, order, srcs)
			if e.Value == nil {
				e = dflt(i)
			}
			out.Settings[s.Name] = e
			ties = append(ties, t...)
			continue
		}
		win := -1
		var val json.RawMessage
		for k, gi := range order {
			if v, ok := groups[gi].Settings[s.Name]; ok && len(v) > 0 {
				win, val = k, v
				break
			}
		}
		if win < 0 {
			out.Settings[s.Name] = dflt(i)
			continue
		}
		out.Settings[s.Name] = Effective{Value: val, Source: Source{Kind: SourceKindGroup, Group: &srcs[win]}}
		for k := win + 1; k < len(order) && srcs[k].Priority == srcs[win].Priority; k++ {
			if v, ok := groups[order[k]].Settings[s.Name]; ok && len(v) > 0 {
				ties = append(ties, tie{setting: s.Name, winner: win, other: k})
			}
		}
	}
	if len(ties) > 0 {
		out.Warnings = append(out.Warnings, tieWarnings(ties, srcs)...)
	}
	values := func(name string) (json.RawMessage, bool) {
		e, ok := out.Settings[name]
		return e.Value, ok
	}
	groupsOf := func(names ...string) []string {
		var ids []string
		for _, n := range names {
			if g := out.Settings[n].Source.Group; g != nil && !slices.Contains(ids, g.ID) {
				ids = append(ids, g.ID)
			}
		}
		return ids
	}
	out.Warnings = append(out.Warnings, relationWarnings(values, groupsOf)...)
	return out
}

// precedence returns the positions of groups from highest to lowest precedence: lower priority
// number first, then smaller id. A group id listed twice keeps its first place.
func precedence(groups []GroupInput) []int {
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	// Comparing positions last makes the order total, so the faster unstable sort gives the
	// result of a stable one.
	slices.SortFunc(order, func(a, b int) int {
		ga, gb := &groups[a], &groups[b]
		if c := cmp.Compare(ga.Priority, gb.Priority); c != 0 {
			return c
		}
		if c := strings.Compare(ga.ID, gb.ID); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return slices.CompactFunc(order, func(a, b int) bool { return groups[a].ID == groups[b].ID })
}

// tie records that the group at precedence position other also supplies setting (or, with
// hostPath, the same volume_mapping host path) at the same priority as winner, which wins.
type tie struct {
	setting  string
	hostPath string
	winner   int
	other    int
}

// tieWarnings folds ties into one priority_tie warning per pair of tied groups.
func tieWarnings(ties []tie, srcs []SourceGroup) []Warning {
	type pair struct{ winner, other int }
	type agg struct {
		pair
		settings  []string
		hostPaths []string
	}
	var aggs []*agg
	byPair := map[pair]*agg{}
	for _, t := range ties {
		p := pair{t.winner, t.other}
		a := byPair[p]
		if a == nil {
			a = &agg{pair: p}
			byPair[p] = a
			aggs = append(aggs, a)
		}
		if !slices.Contains(a.settings, t.setting) {
			a.settings = append(a.settings, t.setting)
		}
		if t.hostPath != "" {
			a.hostPaths = append(a.hostPaths, t.hostPath)
		}
	}
	slices.SortFunc(aggs, func(a, b *agg) int {
		return cmp.Or(cmp.Compare(a.winner, b.winner), cmp.Compare(a.other, b.other))
	})
	out := make([]Warning, 0, len(aggs))
	for _, a := range aggs {
		slices.Sort(a.settings)
		w, o := srcs[a.winner], srcs[a.other]
		msg := fmt.Sprintf("groups %q (%s) and %q (%s) have the same priority %d and both set %s",
			w.ID, w.Name, o.ID, o.Name, w.Priority, strings.Join(a.settings, ", "))
		if len(a.hostPaths) > 0 {
			msg += " (volume_mapping host paths " + quoteList(a.hostPaths) + ")"
		}
		msg += fmt.Sprintf("; the value of %q applies because its id sorts first; give one of them another priority to decide", w.ID)
		out = append(out, Warning{Code: WarnPriorityTie, Message: msg, Settings: a.settings, Groups: []string{w.ID, o.ID}})
	}
	return out
}

// volumeEntry is one host path of one group's volume_mapping: the host path as compared (the
// key's text, decoded when it has escapes) and where its quoted key and its value lie in that
// group's raw value.
type volumeEntry struct {
	host     []byte
	k        int32 // precedence position of the group
	key, val span
}

// mergeVolumes combines the volume_mapping of every group that sets it, without decoding the
// mounts. The result is canonical when the inputs are: host paths in sorted order.
func mergeVolumes(groups []GroupInput, order []int, srcs []SourceGroup) (Effective, []tie) {
	const name = NameVolumeMapping
	var (
		raws         []json.RawMessage // by precedence position
		entries      []volumeEntry     // group by group in precedence order, each sorted by host
		contributors []SourceGroup
	)
	// entries[runs[j]:runs[j+1]] come from contributors[j]. The array keeps runs off the heap
	// for up to 63 contributing groups, which is most users.
	var runsArray [64]int
	runs := append(runsArray[:0], 0)
	for pos, gi := range order {
		raw, ok := groups[gi].Settings[name]
		if !ok || len(raw) == 0 {
			continue
		}
		if raws == nil {
			rest := len(order) - pos
			raws = make([]json.RawMessage, len(order))
			entries = make([]volumeEntry, 0, 2*rest) // most groups map a host path or two
			contributors = make([]SourceGroup, 0, rest)
		}
		raws[pos] = raw
		n := len(entries)
		sorted := true
		ok = eachMember(raw, func(key, val span, escaped bool) {
			host := raw[key.start+1 : key.end-1]
			if escaped {
				var s string
				_ = json.Unmarshal(raw[key.start:key.end], &s) // a bad key sorts as ""
				host = []byte(s)
			}
			if len(entries) > n && bytes.Compare(host, entries[len(entries)-1].host) < 0 {
				sorted = false
			}
			entries = append(entries, volumeEntry{host: host, k: int32(pos), key: key, val: val})
		})
		if !ok {
			entries = entries[:n]
			continue
		}
		if !sorted {
			// Not canonical. A stable sort keeps a host path given twice in document order.
			slices.SortStableFunc(entries[n:], func(a, b volumeEntry) int { return bytes.Compare(a.host, b.host) })
		}
		runs = append(runs, len(entries))
		contributors = append(contributors, srcs[pos])
	}
	if contributors == nil {
		return Effective{}, nil
	}
	idx := mergeRuns(entries, runs)

	// The first entry of a host path wins; a later one at the winner's priority is a tie.
	// Winners move to the front of idx.
	size := 1 // '{', then per winner its key, ':', value and ',' or '}'
	var ties []tie
	w := 0
	for _, i := range idx {
		e := &entries[i]
		if w > 0 {
			win := &entries[idx[w-1]]
			if bytes.Equal(e.host, win.host) {
				if e.k != win.k && srcs[e.k].Priority == srcs[win.k].Priority {
					ties = append(ties, tie{setting: name, hostPath: string(e.host), winner: int(win.k), other: int(e.k)})
				}
				continue
			}
		}
		idx[w] = i
		w++
		size += e.key.end - e.key.start + e.val.end - e.val.start + 2
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '{')
	var mounts map[string]SourceGroup
	if w > 0 {
		mounts = make(map[string]SourceGroup, w)
	}
	for p, i := range idx[:w] {
		if p > 0 {
			buf = append(buf, ',')
		}
		e := &entries[i]
		mounts[string(e.host)] = srcs[e.k]
		raw := raws[e.k]
		buf = append(buf, raw[e.key.start:e.key.end]...)
		buf = append(buf, ':')
		buf = append(buf, raw[e.val.start:e.val.end]...)
	}
	buf = append(buf, '}')
	return Effective{Value: buf, Source: Source{Kind: SourceKindGroups, Groups: contributors, Mounts: mounts}}, ties
}

// mergeRuns returns the positions of entries ordered by host, then by position. runs bounds
// stretches of entries already in that order (entries[runs[j]:runs[j+1]]; runs[0] is 0, the
// last is len(entries)); mergeRuns reuses its memory. Merging neighbouring runs pairwise takes
// fewer and cheaper comparisons than sorting everything: each group's entries arrive sorted.
func mergeRuns(entries []volumeEntry, runs []int) []int32 {
	n := len(entries)
	pair := make([]int32, 2*n)
	src, dst := pair[:n], pair[n:]
	for i := range src {
		src[i] = int32(i)
	}
	for len(runs) > 2 {
		merged := runs[:0] // merged[j] overwrites runs[j] after runs[2j] has been read
		for r := 0; r+1 < len(runs); r += 2 {
			lo, mid, hi := runs[r], runs[r+1], runs[r+1]
			if r+2 < len(runs) {
				hi = runs[r+2]
			}
			mergeInto(dst[lo:hi], src[lo:mid], src[mid:hi], entries)
			merged = append(merged, lo)
		}
		runs = append(merged, n)
		src, dst = dst, src
	}
	return src
}

// mergeInto merges a and b, each ordered by host, into dst; on equal hosts a's come first.
func mergeInto(dst, a, b []int32, entries []volumeEntry) {
	i, j, k := 0, 0, 0
	for i < len(a) && j < len(b) {
		if bytes.Compare(entries[b[j]].host, entries[a[i]].host) < 0 {
			dst[k] = b[j]
			j++
		} else {
			dst[k] = a[i]
			i++
		}
		k++
	}
	k += copy(dst[k:], a[i:])
	copy(dst[k:], b[j:])
}

// Bool returns the effective value of a bool setting; false when it is missing or not a bool.
func (r Resolution) Bool(name string) bool {
	return string(trimSpace(r.Settings[name].Value)) == "true"
}

// Int returns the effective value of an int setting; 0 when it is missing or not a number.
func (r Resolution) Int(name string) int64 {
	v := trimSpace(r.Settings[name].Value)
	if n, res := parseWhole(v); res == wholeOK {
		return n
	}
	f, ok := parseFloat(v)
	if !ok || math.Abs(f) >= 1<<62 {
		return 0
	}
	return int64(f)
}

// Float returns the effective value of a numeric setting; 0 when it is missing or not a number.
func (r Resolution) Float(name string) float64 {
	f, _ := parseFloat(trimSpace(r.Settings[name].Value))
	return f
}

// String returns the effective value of a string, enum, url or id setting; "" when it is
// missing or not a string.
func (r Resolution) String(name string) string {
	var s string
	if json.Unmarshal(r.Settings[name].Value, &s) != nil {
		return ""
	}
	return s
}

// UsageLimit returns the effective usage_limit (the zero value for no limit) and its source.
func (r Resolution) UsageLimit() (UsageLimit, Source) {
	e := r.Settings[NameUsageLimit]
	var ul UsageLimit
	if json.Unmarshal(e.Value, &ul) != nil || ul.Type == "" || ul.Interval == "" || ul.Hours <= 0 {
		ul = UsageLimit{}
	}
	return ul, e.Source
}

// VolumeMapping returns the effective (merged) volume_mapping by host path, defaults filled;
// never nil. Entries that are not valid mounts are left out.
func (r Resolution) VolumeMapping() map[string]VolumeMount {
	ms, _ := scanObject(r.Settings[NameVolumeMapping].Value)
	out := make(map[string]VolumeMount, len(ms))
	for _, m := range ms {
		if vm, p := parseVolumeEntry(trimSpace(m.val)); p == nil {
			out[m.key] = vm
		}
	}
	return out
}

// RunConfig returns the effective run_config decoded, numbers as json.Number so they pass
// through unchanged; never nil.
func (r Resolution) RunConfig() map[string]any {
	out := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(r.Settings[NameRunConfig].Value))
	dec.UseNumber()
	if dec.Decode(&out) != nil || out == nil {
		return map[string]any{}
	}
	return out
}

// ResolveGroups resolves the effective settings of a user who is a member of groups: the one
// conversion of the directory's groups into Resolve's input.
func ResolveGroups(groups []policy.Group) Resolution {
	in := make([]GroupInput, len(groups))
	for i, g := range groups {
		in[i] = GroupInput{ID: g.ID, Name: g.Name, Priority: g.Priority, Settings: g.Settings}
	}
	return Resolve(in)
}
