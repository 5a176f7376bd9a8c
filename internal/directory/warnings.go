package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// Warning codes of a group's name and priority, answered by the creation and change of a group.
const (
	// WarnGroupPriorityTie: another group has the same priority; for a user in both, the group
	// with the smaller id wins each setting both set.
	WarnGroupPriorityTie = "group_priority_tie"
	// WarnAllUsersPrecedence: All Users now takes precedence over groups it did not before.
	WarnAllUsersPrecedence = "all_users_precedence"
	// WarnBelowAllUsers: the group's priority number is above All Users', so All Users' values
	// win over this group's for every setting both set.
	WarnBelowAllUsers = "overridden_by_all_users"
	// WarnAllUsersRenamed: the built-in group was renamed; it stays the group of every user.
	WarnAllUsersRenamed = "all_users_renamed"
)

// GroupWarnings advises about g as just written (before is the group before a change, the zero
// Group for a creation): priority ties with other groups, All Users taking precedence over
// groups (or over g), and a renamed All Users. A failed listing only drops the advice.
func (s *Service) GroupWarnings(ctx context.Context, g, before policy.Group) []settings.Warning {
	out := []settings.Warning{}
	all, err := s.store.ListGroups(ctx)
	if err != nil {
		return out
	}
	slices.SortFunc(all, byPriority)
	isAllUsers := g.ID == policy.AllUsersGroupID
	var allUsers *policy.Group
	var tied, overridden []policy.Group
	for i, o := range all {
		switch {
		case o.ID == g.ID:
			continue
		case o.ID == policy.AllUsersGroupID:
			allUsers = &all[i]
		}
		if o.Priority == g.Priority {
			tied = append(tied, o)
		}
		if isAllUsers && before.ID != "" && o.Priority > g.Priority && o.Priority <= before.Priority {
			overridden = append(overridden, o)
		}
	}
	names := func(gs []policy.Group) string {
		var b strings.Builder
		for i, o := range gs {
			if i == 5 {
				fmt.Fprintf(&b, " and %d more", len(gs)-i)
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q (%s)", o.Name, o.ID)
		}
		return b.String()
	}
	ids := func(gs []policy.Group) []string {
		out := []string{g.ID}
		for _, o := range gs {
			out = append(out, o.ID)
		}
		return out
	}
	if len(tied) > 0 && g.Priority != before.Priority {
		out = append(out, settings.Warning{Code: WarnGroupPriorityTie, Groups: ids(tied), Message: fmt.Sprintf(
			"priority %d is also the priority of %s: for a user in both, the group with the smaller id wins each setting both set; give each group a priority of its own",
			g.Priority, names(tied))})
	}
	if len(overridden) > 0 {
		out = append(out, settings.Warning{Code: WarnAllUsersPrecedence, Groups: ids(overridden), Message: fmt.Sprintf(
			"All Users now has priority %d and takes precedence over %s: every user gets All Users' value of each setting it sets, whatever those groups say",
			g.Priority, names(overridden))})
	}
	if !isAllUsers && allUsers != nil && g.Priority > allUsers.Priority && (before.ID == "" || before.Priority <= allUsers.Priority) {
		out = append(out, settings.Warning{Code: WarnBelowAllUsers, Groups: []string{g.ID, allUsers.ID}, Message: fmt.Sprintf(
			"priority %d is a larger number than All Users' %d, so All Users' values win over this group's for every setting both set; use a priority below %d for the group to take precedence",
			g.Priority, allUsers.Priority, allUsers.Priority)})
	}
	if isAllUsers && before.ID != "" && g.Name != before.Name {
		out = append(out, settings.Warning{Code: WarnAllUsersRenamed, Groups: []string{g.ID}, Message: fmt.Sprintf(
			"the built-in All Users group is now named %q: it is still the group every user belongs to (id %s), and it cannot be deleted",
			g.Name, g.ID)})
	}
	return out
}
