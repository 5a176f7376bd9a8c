package ddbstore

import "strings"

// GroupReadsWaiting reports how many callers of GroupsOfUser for the set of groups ids (sorted,
// All Users included) wait for the read queued behind the one under way.
func (s *Store) GroupReadsWaiting(ids ...string) int {
	f := &s.groupSets
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.keys[strings.Join(ids, " ")]
	if k == nil || k.queued == nil {
		return 0
	}
	return k.queued.callers
}
