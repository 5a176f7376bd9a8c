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

// Index is a global secondary index. All indexes project all attributes.
type Index struct {
	Name         string
	PartitionKey Key
	SortKey      Key
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

// Indexes are the table's global secondary indexes.
var Indexes = []Index{
	{Name: ByOwner, PartitionKey: Key{Name: "GSI1PK", Type: String}, SortKey: Key{Name: "GSI1SK", Type: String}},
	{Name: ByDue, PartitionKey: Key{Name: "DueShard", Type: String}, SortKey: Key{Name: "DueAt", Type: Number}},
}
