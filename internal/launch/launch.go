package launch

import (
	"cmp"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// Launch is what the provisioning layer needs to start a session: everything in it is already
// resolved for the user, so a platform can act on it without reading any group.
type Launch struct {
	// ImageID is the workspace image the session runs.
	ImageID string `json:"image_id"`
	// RunConfig is the effective run_config (docker run parameters), passed through untouched.
	RunConfig map[string]any `json:"run_config"`
	// Mounts are the session's volume mounts, sorted by bind, then host path, then source.
	Mounts []Mount `json:"volume_mappings"`
	// Environment holds variables to set in the session; the provisioning layer applies them
	// over run_config's own environment (these win on the same name).
	Environment map[string]string `json:"environment"`
	// WebFilterPolicy is the effective web_filter_policy id; "" means none.
	WebFilterPolicy string `json:"web_filter_policy"`
	// InjectSSHKeys is the effective inject_ssh_keys: inject the user's SSH key pair.
	InjectSSHKeys bool `json:"inject_ssh_keys"`
	// AllowPersistentProfile is the effective allow_persistent_profile: attach the user's
	// persistent profile when the image has one configured.
	AllowPersistentProfile bool `json:"allow_persistent_profile"`
	// Workspace is the registered workspace the session runs (issue 15); absent for a session
	// of an unregistered image (before the registry is in use).
	Workspace *WorkspaceLaunch `json:"workspace,omitempty"`
	// SessionTimeLimit is the session's effective time limit and which setting it came from;
	// absent when the session has none.
	SessionTimeLimit *TimeLimit `json:"session_time_limit,omitempty"`
}

// WorkspaceLaunch is what the provisioning layer needs of the session's workspace.
type WorkspaceLaunch struct {
	WorkspaceID           string  `json:"workspace_id"`
	Image                 string  `json:"image"`
	FriendlyName          string  `json:"friendly_name"`
	Cores                 float64 `json:"cores"`
	Memory                int64   `json:"memory"`
	PersistentProfilePath string  `json:"persistent_profile_path"`
}

// TimeLimit is a session's effective time limit: Seconds, from Source ("workspace" or "user",
// the smaller non-zero of the workspace's and the user's session_time_limit).
type TimeLimit struct {
	Seconds int64  `json:"seconds"`
	Source  string `json:"source"`
}

// Mount is one volume of a session: HostPath on the host mounted at Bind in the session, with
// the {username} and {user_id} tokens already substituted. Source says where it came from:
// "group:<id>" for a volume_mapping entry of that group (the one that supplied its host path),
// "groups:<id>,<id>…" for one supplied by
// one of those groups (listed in precedence order) when the resolution does not say which, and
// "user_mapping:<mapping id>" for one of the user's own storage mappings.
type Mount struct {
	HostPath string `json:"host_path"`
	settings.VolumeMount
	Source string `json:"source"`
}

// The prefixes of Mount.Source.
const (
	SourceGroup       = "group:"
	SourceGroups      = "groups:"
	SourceUserMapping = "user_mapping:"
)

// BuildLaunch assembles the launch configuration of a new session of imageID for user, whose
// effective settings are r and who registered mappings:
//   - Mounts: the merged volume_mapping (Resolve already merged it), plus the user's own
//     mappings only while allow_user_storage_mapping is true, with mode forced to "ro" while
//     read_only_user_storage_mapping is true. Every host path and bind is compared in its
//     canonical form (path.Clean after substitution: "/srv/share/", "/srv//share" and
//     "/srv/./share" are "/srv/share"), and a session never gets two mounts at one bind.
//   - The rule for the user's own mappings (the administrator's mounts win): a user mapping is
//     left out when (1) its host path is a group mount's host path; (2) it is not read-only
//     and its host path is beneath or above the host path of a read-only group mount (it would
//     re-expose that mount, or part of it, read-write); (3) its bind is a group mount's bind or
//     beneath or above one (it would hide the administrator's mount, or be hidden by it); or
//     (4) its host path or bind is that of an older mapping of the user. Mappings of another
//     user are ignored.
//   - Group mounts whose canonical host path or bind collide (stored before paths were
//     canonical, or two groups mounting at one bind): the read-only one wins, else the first
//     by host path.
//   - {username} and {user_id} are substituted in host paths and binds only (not in
//     run_config, which is passed through untouched); the substituted values are escaped so
//     that they stay inside one path segment (see pathSegment).
//   - Environment: KASM_USER and KASM_USER_ID while expose_user_environment_vars is true;
//     never nil.
func BuildLaunch(r settings.Resolution, user policy.User, mappings []StorageMapping, imageID string) Launch {
	l := Launch{
		ImageID:                imageID,
		RunConfig:              r.RunConfig(),
		Mounts:                 []Mount{},
		Environment:            map[string]string{},
		WebFilterPolicy:        r.WebFilterPolicy(),
		InjectSSHKeys:          r.InjectSSHKeys(),
		AllowPersistentProfile: r.AllowPersistentProfile(),
	}
	sub := substituter(user)
	vmSource := r.Settings[settings.NameVolumeMapping].Source
	groupSource := groupMountSource(vmSource)
	vms := r.VolumeMapping()
	hosts := slices.Sorted(maps.Keys(vms))
	var group []Mount
	for _, hostPath := range hosts {
		vm := vms[hostPath]
		m := Mount{HostPath: path.Clean(sub.Replace(hostPath)), VolumeMount: vm, Source: groupSource}
		if g, ok := vmSource.Mounts[hostPath]; ok {
			m.Source = SourceGroup + g.ID // the group that supplied this host path
		}
		m.Bind = path.Clean(sub.Replace(vm.Bind))
		i := slices.IndexFunc(group, func(g Mount) bool { return g.HostPath == m.HostPath || g.Bind == m.Bind })
		switch {
		case i < 0:
			group = append(group, m)
		case group[i].Mode != "ro" && m.Mode == "ro":
			group[i] = m // the read-only one wins a collision
		}
	}
	l.Mounts = append(l.Mounts, group...)
	if r.AllowUserStorageMapping() {
		readOnly := r.ReadOnlyUserStorageMapping()
		own := slices.Clone(mappings)
		slices.SortStableFunc(own, func(a, b StorageMapping) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
		})
		var kept []Mount
		for _, sm := range own {
			if sm.UserID != "" && sm.UserID != user.ID {
				continue
			}
			m := Mount{HostPath: path.Clean(sub.Replace(sm.HostPath)), VolumeMount: sm.VolumeMount, Source: SourceUserMapping + sm.ID}
			m.Bind = path.Clean(sub.Replace(sm.Bind))
			if readOnly {
				m.Mode = "ro"
			}
			if !userMountAllowed(m, group, kept) {
				continue
			}
			kept = append(kept, m)
		}
		l.Mounts = append(l.Mounts, kept...)
	}
	slices.SortFunc(l.Mounts, func(a, b Mount) int {
		return cmp.Or(strings.Compare(a.Bind, b.Bind), strings.Compare(a.HostPath, b.HostPath), strings.Compare(a.Source, b.Source))
	})
	if r.ExposeUserEnvironmentVars() {
		l.Environment["KASM_USER"] = user.Username
		l.Environment["KASM_USER_ID"] = user.ID
	}
	return l
}

// userMountAllowed applies the rule of BuildLaunch to user mount m (canonical, mode final)
// beside the group mounts and the user's older mounts kept so far.
func userMountAllowed(m Mount, group, older []Mount) bool {
	for _, g := range group {
		switch {
		case m.HostPath == g.HostPath:
			return false
		case g.Mode == "ro" && m.Mode != "ro" && overlaps(m.HostPath, g.HostPath):
			return false
		case overlaps(m.Bind, g.Bind):
			return false
		}
	}
	for _, o := range older {
		if m.HostPath == o.HostPath || m.Bind == o.Bind {
			return false
		}
	}
	return true
}

// overlaps reports whether canonical absolute paths a and b are the same path or one is
// beneath the other ("/srv" and "/srv/share"; not "/srv/share" and "/srv/shared").
func overlaps(a, b string) bool {
	return a == b || beneath(a, b) || beneath(b, a)
}

// beneath reports whether canonical path child lies strictly inside canonical path parent.
func beneath(child, parent string) bool {
	if parent == "/" {
		return child != "/"
	}
	return strings.HasPrefix(child, parent+"/")
}

// groupMountSource is the Source of the mounts of a merged volume_mapping whose source is src.
func groupMountSource(src settings.Source) string {
	switch len(src.Groups) {
	case 0:
		if src.Group != nil {
			return SourceGroup + src.Group.ID
		}
		return SourceGroups
	case 1:
		return SourceGroup + src.Groups[0].ID
	}
	ids := make([]string, len(src.Groups))
	for i, g := range src.Groups {
		ids[i] = g.ID
	}
	return SourceGroups + strings.Join(ids, ",")
}

// substituter replaces the path tokens {username} and {user_id} with the escaped name and id of
// user in one pass, so that a substituted value is never itself substituted again.
func substituter(user policy.User) *strings.Replacer {
	return strings.NewReplacer("{username}", pathSegment(user.Username), "{user_id}", pathSegment(user.ID))
}

// pathSegment escapes v so that, wherever it is substituted in a path, it adds no path
// separator, cannot form a "." or ".." segment and cannot break a docker "-v host:bind:mode" or
// "--mount key=value,…" spec, and that leaves no token to substitute again. '/', '\', ':', ',',
// '%', '{', '}', control characters, bytes that are not UTF-8 and a leading '.' become %XX
// (percent-encoding of their bytes); "" becomes "%". The escape is injective, so two users
// never get the same directory; names made of ordinary characters (letters, digits, '.', '_',
// '-', '@', …) are unchanged.
func pathSegment(v string) string {
	if v == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		escape := (r == utf8.RuneError && size == 1) || unicode.IsControl(r) || (i == 0 && r == '.')
		switch r {
		case '/', '\\', ':', ',', '%', '{', '}':
			escape = true
		}
		if escape {
			for _, c := range []byte(v[i : i+size]) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		} else {
			b.WriteString(v[i : i+size])
		}
		i += size
	}
	return b.String()
}
