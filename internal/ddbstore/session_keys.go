package ddbstore

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"wspolicy/internal/tabledef"
)

// Key layout of sessions (see docs/design-sessions.md).
//
//	item                 PK                  SK                      index keys
//	session              SESSION#<sid>       SESSION                 GSI1 USER#<uid> / SESSION#<created>#<sid>;
//	                                                                 Due  DUE#<n> / <due epoch ms> (only while due)
//	session launch item  SESSION#<sid>       SESSION#LAUNCH          none
//	session event        SESSION#<sid>       EVENT#<seq, 8 digits>
//	re-sync marker       RESYNC              <at>#<group|user>#<id>
//
// <created> and <at> are RFC 3339 UTC with a fixed nine-digit fraction, so that string order
// is time order. The launch item holds the session's client_settings and launch documents, so
// that the session item the keepalive rewrites stays under 1 KB; "SESSION" is a prefix of its
// sort key, so one Query of begins_with(SK, "SESSION") reads both (and never an EVENT# item).
const (
	sessionPKPrefix      = "SESSION#"
	sessionSK            = "SESSION"
	sessionLaunchSK      = "SESSION#LAUNCH"
	sessionEventSKPrefix = "EVENT#"
	userSessionsPKPrefix = "USER#"
	userSessionSKPrefix  = "SESSION#"
	dueShardPrefix       = "DUE#"
	resyncPK             = "RESYNC"

	// sortableTime is RFC 3339 with a fixed-width fraction.
	sortableTime = "2006-01-02T15:04:05.000000000Z"
)

// Attribute names of the due index, from the one table definition.
var (
	attrDueShard = tabledef.Indexes[1].PartitionKey.Name
	attrDueAt    = tabledef.Indexes[1].SortKey.Name
)

func sessionKey(sessionID string) tableKey {
	return tableKey{PK: sessionPKPrefix + sessionID, SK: sessionSK}
}

// sessionLaunchKey is the key of a session's launch item (its client_settings and launch).
func sessionLaunchKey(sessionID string) tableKey {
	return tableKey{PK: sessionPKPrefix + sessionID, SK: sessionLaunchSK}
}

func sessionEventKey(sessionID string, seq int64) tableKey {
	return tableKey{PK: sessionPKPrefix + sessionID, SK: fmt.Sprintf("%s%08d", sessionEventSKPrefix, seq)}
}

// userSessionsPK is the GSI1 partition of a user's sessions.
func userSessionsPK(userID string) string { return userSessionsPKPrefix + userID }

// userSessionSK orders a user's sessions by creation time.
func userSessionSK(created time.Time, sessionID string) string {
	return userSessionSKPrefix + created.UTC().Format(sortableTime) + "#" + sessionID
}

// dueShard is the Due index partition of a session: fnv32a(session id) mod tabledef.DueShards.
func dueShard(sessionID string) string {
	return dueShardName(dueShardOf(sessionID))
}

func dueShardOf(sessionID string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(sessionID))
	return int(h.Sum32() % tabledef.DueShards)
}

func dueShardName(n int) string { return fmt.Sprintf("%s%d", dueShardPrefix, n) }

// resyncKey is the key of a re-sync marker of kind "group" or "user".
func resyncKey(kind, id string, at time.Time) tableKey {
	return tableKey{PK: resyncPK, SK: at.UTC().Format(sortableTime) + "#" + kind + "#" + id}
}

// parseResyncSK splits a re-sync marker's sort key into its time, kind and id.
func parseResyncSK(sk string) (at time.Time, kind, id string, ok bool) {
	parts := strings.SplitN(sk, "#", 3)
	if len(parts) != 3 {
		return time.Time{}, "", "", false
	}
	at, err := time.Parse(sortableTime, parts[0])
	if err != nil {
		return time.Time{}, "", "", false
	}
	return at, parts[1], parts[2], true
}
