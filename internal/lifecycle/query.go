package lifecycle

import "time"

// Page sizes of session listings.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// ListFilter selects the sessions of a listing.
type ListFilter struct {
	// UserID limits the listing to one user's sessions (newest last); "" lists every session
	// (administrators only; a paged scan whose cost grows with the table).
	UserID string
	// Status limits the listing to sessions in that state; "" means any.
	Status Status
	// Limit is the page size: 0 means DefaultPageSize, at most MaxPageSize. A page may hold
	// fewer sessions than Limit when Status filters some out; NextPageToken says whether more follow.
	Limit int
	// PageToken continues a listing where the previous page stopped.
	PageToken string
}

// Page is one page of a session listing.
type Page struct {
	Sessions      []Session
	NextPageToken string
}

// ResyncKind says what changed for a re-sync marker.
type ResyncKind string

// The kinds of re-sync markers.
const (
	// ResyncGroup: a group's settings or priority changed (its members are re-synced; All Users,
	// or a group that no longer exists, re-syncs every session in the due index).
	ResyncGroup ResyncKind = "group"
	// ResyncUser: a user's memberships changed.
	ResyncUser ResyncKind = "user"
)

// ResyncMarker records that the lifetime settings of a group's members or of one user may have
// changed at At, so their live sessions must be brought up to date by the next sweep.
type ResyncMarker struct {
	Kind ResyncKind
	ID   string
	At   time.Time
	// Cursors is how far an unfinished re-sync of every session got, by due shard: the page
	// token to go on from, or ResyncShardDone. Empty for a marker no sweep has started on.
	Cursors map[int]string
}

// ResyncShardDone is the cursor of a due shard whose every session a re-sync has seen to.
const ResyncShardDone = "done"
