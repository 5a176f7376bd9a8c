// Package tabledef is the one definition of the DynamoDB table: key attributes, indexes, TTL and
// stream settings. The store creates local tables from it and the CDK stack builds the cloud
// table from it, so local and cloud keys never drift. It imports nothing from AWS.
package tabledef

// AttrType is a DynamoDB scalar attribute type.
type AttrType string

// Scalar attribute types used by keys.
const (
	String AttrType = "S"
	Number AttrType = "N"
)

// Key is one key attribute.
type Key struct {
	Name string
	Type AttrType
}

// Projection is which attributes an index copies besides the keys (the table's and its own).
type Projection string

// Projection types.
const (
	// KeysOnly copies the keys only: a write that moves no index key writes nothing there.
	KeysOnly Projection = "KEYS_ONLY"
	// Include copies the keys and the index's NonKeyAttributes: a write that changes none of
	// them and moves no index key writes nothing there.
	Include Projection = "INCLUDE"
)

// Index is a global secondary index. An index is written whenever a table write moves its key
// or changes an attribute it copies, one unit per KB (two when the key moves: delete and put),
// so each projects only what its queries read and nothing a keepalive writes.
type Index struct {
	Name         string
	PartitionKey Key
	SortKey      Key
	Projection   Projection
	// NonKeyAttributes are the attributes an Include index copies.
	NonKeyAttributes []string
}

// Table key attributes.
var (
	PartitionKey = Key{Name: "PK", Type: String}
	SortKey      = Key{Name: "SK", Type: String}
)

// Index names.
const (
	// ByOwner lists items under an owner: a user's sessions, all groups, all users.
	ByOwner = "GSI1"
	// ByDue is the sparse, write-sharded index on the time something is next due for a sweep.
	ByDue = "Due"
)

// DueShards is how many partitions the due index spreads its writes over.
const DueShards = 16

// TTLAttribute holds the epoch second after which DynamoDB may delete an item.
const TTLAttribute = "TTL"

// StreamView is the stream view type the table needs (the publisher reads new images and the
// TTL backstop reads old images).
const StreamView = "NEW_AND_OLD_IMAGES"

// ByOwnerAttributes are the attributes ByOwner copies: what the listings of all groups and all
// users decode (group and user items), and a session's user_id and status (the status filter
// of a user's session listing runs on the index). A user's session listing reads the session
// items themselves from the table (BatchGetItem of the page's keys), so the attributes a
// keepalive writes (last_keepalive_at_ms, expires_at_ms, connected) are not copied and a
// keepalive writes nothing to this index. "auto_add" is no longer written (auto-add reads the
// settings), but stays listed: DynamoDB refuses to change an existing index's projection in
// place, so dropping it would fail the stack update of every deployed table.
var ByOwnerAttributes = []string{
	// group items
	"group_id", "name", "priority", "description", "version", "settings", "member_count",
	"auto_add", "deleting", "created_at", "updated_at",
	// user items
	"user_id", "username", "groups",
	// session items (user_id above)
	"status",
}

// Indexes are the table's global secondary indexes. Due is keys only: the sweep reads the due
// items themselves from the table (BatchGetItem), so an entry is written only when its key
// moves.
var Indexes = []Index{
	{Name: ByOwner, PartitionKey: Key{Name: "GSI1PK", Type: String}, SortKey: Key{Name: "GSI1SK", Type: String},
		Projection: Include, NonKeyAttributes: ByOwnerAttributes},
	{Name: ByDue, PartitionKey: Key{Name: "DueShard", Type: String}, SortKey: Key{Name: "DueAt", Type: Number},
		Projection: KeysOnly},
}
