package sso

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/singleflight"

	"wspolicy/internal/policy"
)

// Store is the storage sign-in needs beyond the directory (ddbstore.Store implements it).
type Store interface {
	IdentityUser(ctx context.Context, issuer, subject string) (userID string, found bool, err error)
	LinkIdentity(ctx context.Context, issuer, subject, userID, replaceUserID string, groups []string, at time.Time) error
	SetIdentityGroups(ctx context.Context, issuer, subject, userID string, groups []string, at time.Time) error
	UserIdentityGroups(ctx context.Context, userID string) ([]string, bool, error)
	SSOMappings(ctx context.Context) (map[string][]string, error)
	SetSSOMapping(ctx context.Context, groupID string, idpGroups []string) error
	RecordSSOMembership(ctx context.Context, groupID, userID, idpGroup string, member bool, at time.Time) error
}

// Directory is the part of the directory service (directory.Service) sign-in uses.
// ifVersion 0 is "any version of the group".
type Directory interface {
	CreateSignInUser(ctx context.Context, username string) (policy.User, error)
	GetUser(ctx context.Context, id string) (policy.User, error)
	AddMember(ctx context.Context, groupID, userID string, ifVersion int64) error
	RemoveMember(ctx context.Context, groupID, userID string, ifVersion int64) error
}

// Actor is the history actor of membership changes made by sign-in.
const Actor = "sso"

// Service turns verified identities into users and keeps their mapped memberships in step.
type Service struct {
	store Store
	dir   Directory
	clock policy.Clock
	once  singleflight.Group
}

// NewService returns a sign-in service.
func NewService(store Store, dir Directory, clock policy.Clock) *Service {
	return &Service{store: store, dir: dir, clock: clock}
}

// SignIn returns the user of an identity, creating it on the first sign-in, and syncs the
// memberships its IdP groups confer: mapped groups the person is no longer in are left, mapped
// groups they are now in are joined. Groups without a mapping are never touched. Concurrent
// sign-ins of one identity share one run.
func (s *Service) SignIn(ctx context.Context, id Identity) (string, error) {
	key := id.Issuer + "\x00" + id.Subject
	v, err, _ := s.once.Do(key, func() (any, error) {
		ctx := context.WithoutCancel(ctx)
		userID, err := s.user(ctx, id)
		if err != nil {
			return "", err
		}
		if err := s.sync(ctx, userID, id.Groups); err != nil {
			return "", err
		}
		return userID, s.store.SetIdentityGroups(ctx, id.Issuer, id.Subject, userID, id.Groups, s.clock.Now())
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// user finds or creates the user linked to the identity.
func (s *Service) user(ctx context.Context, id Identity) (string, error) {
	userID, found, err := s.store.IdentityUser(ctx, id.Issuer, id.Subject)
	if err != nil {
		return "", err
	}
	replace := ""
	if found {
		if _, err := s.dir.GetUser(ctx, userID); err == nil {
			return userID, nil
		} else if !policy.IsKind(err, policy.KindNotFound) {
			return "", err
		}
		replace = userID // the linked user was deleted: the next sign-in creates a new one
	}
	u, err := s.createUser(ctx, id)
	if err != nil {
		return "", err
	}
	err = s.store.LinkIdentity(ctx, id.Issuer, id.Subject, u.ID, replace, id.Groups, s.clock.Now())
	if policy.IsKind(err, policy.KindConflict) {
		// Another sign-in of the same identity (another process) linked first: use its user.
		other, found, lerr := s.store.IdentityUser(ctx, id.Issuer, id.Subject)
		if lerr == nil && found {
			return other, nil
		}
	}
	if err != nil {
		return "", err
	}
	return u.ID, nil
}

// createUser creates the user with the username the token carries (cut to
// policy.MaxUsernameChars); when another user holds it, a suffix derived from the subject makes
// it unique ("jane" → "jane-3f2a9c"), the name cut to leave room for it.
func (s *Service) createUser(ctx context.Context, id Identity) (policy.User, error) {
	name := cut(id.Username, policy.MaxUsernameChars)
	sum := sha256.Sum256([]byte(id.Issuer + "\x00" + id.Subject))
	suffix := hex.EncodeToString(sum[:])
	for i := 0; ; i++ {
		u, err := s.dir.CreateSignInUser(ctx, name)
		if err == nil || !policy.IsKind(err, policy.KindConflict) || i >= 3 {
			if err != nil {
				return policy.User{}, fmt.Errorf("create the user of %s: %w", id.Username, err)
			}
			return u, nil
		}
		tail := "-" + suffix[:6+2*i]
		name = cut(id.Username, policy.MaxUsernameChars-len(tail)) + tail
	}
}

// cut shortens s to at most n characters.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// sync makes the user's memberships of mapped groups match the IdP groups.
func (s *Service) sync(ctx context.Context, userID string, idpGroups []string) error {
	mappings, err := s.store.SSOMappings(ctx)
	if err != nil || len(mappings) == 0 {
		return err
	}
	u, err := s.dir.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	ids := make([]string, 0, len(mappings))
	for gid := range mappings {
		ids = append(ids, gid)
	}
	sort.Strings(ids)
	for _, gid := range ids {
		through := Through(mappings[gid], idpGroups)
		member := slices.Contains(u.GroupIDs, gid)
		switch {
		case through != "" && !member:
			err := s.dir.AddMember(ctx, gid, userID, 0)
			if policy.IsKind(err, policy.KindNotFound) {
				continue // a mapping of a group deleted since
			}
			if err != nil {
				return err
			}
			if err := s.store.RecordSSOMembership(ctx, gid, userID, through, true, now); err != nil && !policy.IsKind(err, policy.KindNotFound) {
				return err
			}
		case through == "" && member:
			err := s.dir.RemoveMember(ctx, gid, userID, 0)
			if policy.IsKind(err, policy.KindNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := s.store.RecordSSOMembership(ctx, gid, userID, "", false, now); err != nil && !policy.IsKind(err, policy.KindNotFound) {
				return err
			}
		}
	}
	return nil
}

// Through returns the first of a group's mapped IdP groups the person is in ("" for none).
func Through(mapped, idpGroups []string) string {
	for _, m := range mapped {
		if slices.Contains(idpGroups, m) {
			return m
		}
	}
	return ""
}

// Explanation is why a user is a member of a group through the IdP.
type Explanation struct {
	GroupID  string `json:"group_id"`
	IdPGroup string `json:"idp_group"`
}

// Explain lists the groups the user is a member of through an IdP group, as of their latest
// sign-in.
func (s *Service) Explain(ctx context.Context, userID string) ([]Explanation, error) {
	groups, found, err := s.store.UserIdentityGroups(ctx, userID)
	if err != nil || !found {
		return nil, err
	}
	mappings, err := s.store.SSOMappings(ctx)
	if err != nil {
		return nil, err
	}
	var out []Explanation
	for gid, m := range mappings {
		if t := Through(m, groups); t != "" {
			out = append(out, Explanation{GroupID: gid, IdPGroup: t})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GroupID < out[j].GroupID })
	return out, nil
}

// SetMapping sets a group's SSO group mapping (IdP group names; empty removes it).
func (s *Service) SetMapping(ctx context.Context, groupID string, idpGroups []string) ([]string, error) {
	clean := []string{}
	for _, g := range idpGroups {
		switch {
		case g == "" || len(g) > 256:
			return nil, policy.FieldErrorf("idp_groups", policy.CodeInvalidIdpGroup, "an IdP group name must be 1..256 characters")
		case !slices.Contains(clean, g):
			clean = append(clean, g)
		}
	}
	if len(clean) > 50 {
		return nil, policy.FieldErrorf("idp_groups", policy.CodeTooManyIdpGroups, "a group maps at most 50 IdP groups")
	}
	if err := s.store.SetSSOMapping(ctx, groupID, clean); err != nil {
		return nil, err
	}
	return clean, nil
}

// Mapping returns a group's SSO group mapping.
func (s *Service) Mapping(ctx context.Context, groupID string) ([]string, error) {
	m, err := s.store.SSOMappings(ctx)
	if err != nil {
		return nil, err
	}
	if m[groupID] == nil {
		return []string{}, nil
	}
	return m[groupID], nil
}
