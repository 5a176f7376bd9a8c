package sessions

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"wspolicy/internal/launch"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
	"wspolicy/internal/workspaces"
)

// StartRequest is what starting a session takes (POST /v1/sessions).
type StartRequest struct {
	// UserID is whose session it is.
	UserID string
	// ImageID is the workspace image; "" means the user's effective default_image.
	ImageID string
	// Container says whether the session is container-based (only those pause and stop).
	Container bool
	// Reuse asks for the user's live session of the image, if there is one, instead of a new
	// session (the /go flow).
	Reuse bool
}

// maxLaunchBytes bounds the JSON of a session's client settings and launch configuration
// together: both are stored on the session's launch item (400 KB at most) and travel in the
// created event (EventBridge takes 256 KB per entry). Only an extreme configuration (dozens of groups
// with very large volume_mapping values) comes near it.
const maxLaunchBytes = 128 << 10

// createdDetail is the detail of a session's created event: what the provisioning layer
// needs to launch the session and the client to behave, without reading any group.
type createdDetail struct {
	ImageID        string          `json:"image_id"`
	Container      bool            `json:"container"`
	ClientSettings json.RawMessage `json:"client_settings"`
	Launch         json.RawMessage `json:"launch"`
}

// startInputs is what a start reads: the user, their effective settings and their storage
// mappings (nil while allow_user_storage_mapping is false: they are not used then).
type startInputs struct {
	user     policy.User
	groupIDs []string
	res      settings.Resolution
	mappings []launch.StorageMapping
}

// readStartInputs reads the user with their storage mappings (one strongly consistent Query of
// the user's partition, where the user item sorts right after the mappings), then the user's
// groups (one BatchGetItem): two round trips and two requests.
func (s *Service) readStartInputs(ctx context.Context, userID string) (startInputs, error) {
	user, mappings, err := s.store.UserWithStorageMappings(ctx, userID)
	if err != nil {
		return startInputs{}, err
	}
	groups, err := s.dir.GroupsOfUser(ctx, user)
	if err != nil {
		return startInputs{}, err
	}
	in := startInputs{user: user, res: resolveGroups(groups)}
	for _, g := range groups {
		in.groupIDs = append(in.groupIDs, g.ID)
	}
	if in.res.AllowUserStorageMapping() {
		in.mappings = mappings
	}
	return in, nil
}

// resolveGroups resolves the effective settings of a user in groups.
func resolveGroups(groups []policy.Group) settings.Resolution {
	return settings.ResolveGroups(groups)
}

// attachLaunch puts the client settings and the launch configuration of a new session on it
// and in its created event's detail.
func attachLaunch(sess *lifecycle.Session, created *lifecycle.Event, in startInputs, ws *workspaces.Workspace) error {
	cs, err := json.Marshal(launch.ClientSettings(in.res))
	if err != nil {
		return fmt.Errorf("encode client settings: %w", err)
	}
	bl := launch.BuildLaunch(in.res, in.user, in.mappings, sess.ImageID)
	if ws != nil {
		applyWorkspace(&bl, *ws, in.res)
	}
	l, err := json.Marshal(bl)
	if err != nil {
		return fmt.Errorf("encode launch configuration: %w", err)
	}
	if n := len(cs) + len(l); n > maxLaunchBytes {
		return policy.Errorf(policy.KindConflict, policy.CodeLaunchConfigTooLarge,
			"the launch configuration of user %s is %d bytes of JSON, more than %d: reduce the volume_mapping or run_config of their groups",
			sess.UserID, n, maxLaunchBytes)
	}
	detail, err := json.Marshal(createdDetail{ImageID: sess.ImageID, Container: sess.Container, ClientSettings: cs, Launch: l})
	if err != nil {
		return fmt.Errorf("encode created event: %w", err)
	}
	sess.ClientSettings, sess.Launch, created.Detail = cs, l, detail
	return nil
}

// liveSessionOf finds the user's live (not deleted) session of imageID for the /go flow: a
// running one before a paused or stopped one, then the newest. It pages through the user's
// sessions (one request per 100; deleted sessions stay listed until their TTL removes them),
// then reads the one it picked (one request): a listing carries no client settings or launch
// configuration, and the read is strongly consistent — a session deleted since it was listed
// is not returned. The listing is an index read, eventually consistent: a session started a
// moment ago may not be found yet.
func (s *Service) liveSessionOf(ctx context.Context, userID, imageID string) (lifecycle.Session, bool, error) {
	best, found, err := s.pickLiveSession(ctx, userID, imageID)
	if err != nil || !found {
		return lifecycle.Session{}, false, err
	}
	cur, err := s.store.GetSession(ctx, best.ID)
	switch {
	case policy.IsKind(err, policy.KindNotFound):
		return lifecycle.Session{}, false, nil
	case err != nil:
		return lifecycle.Session{}, false, err
	case cur.Status == lifecycle.StatusDeleted:
		return lifecycle.Session{}, false, nil
	}
	return cur, true, nil
}

// pickLiveSession chooses, from the listing of the user's sessions, the one liveSessionOf reads.
func (s *Service) pickLiveSession(ctx context.Context, userID, imageID string) (lifecycle.Session, bool, error) {
	var (
		best  lifecycle.Session
		found bool
	)
	f := lifecycle.ListFilter{UserID: userID, Limit: lifecycle.MaxPageSize}
	for {
		p, err := s.store.ListSessions(ctx, f)
		if err != nil {
			return lifecycle.Session{}, false, err
		}
		for _, c := range p.Sessions {
			if c.Status == lifecycle.StatusDeleted || c.ImageID != imageID {
				continue
			}
			if !found || betterReuse(c, best) {
				best, found = c, true
			}
		}
		if p.NextPageToken == "" {
			return best, found, nil
		}
		f.PageToken = p.NextPageToken
	}
}

// betterReuse reports whether a is a better session to reuse than b: running first, then the
// newest, then the larger id (so that the choice is deterministic).
func betterReuse(a, b lifecycle.Session) bool {
	ar, br := a.Status == lifecycle.StatusRunning, b.Status == lifecycle.StatusRunning
	if ar != br {
		return ar
	}
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID)) > 0
}
