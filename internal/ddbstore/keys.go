package ddbstore

import (
	"fmt"
	"strings"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/policy"
	"wspolicy/internal/tabledef"
)

// Key layout of the directory (groups, users, memberships, settings history, API keys).
//
//	item                 PK                      SK                      GSI1PK / GSI1SK
//	group                GROUP#<gid>             GROUP                   GROUPS / <gid>
//	group member         GROUP#<gid>             MEMBER#<uid>
//	settings history     GROUP#<gid>             HIST#<version>#<seq>
//	group name (unique)  GROUPNAME#<name>        GROUPNAME
//	user                 USER#<uid>              USER                    USERS / <uid>
//	user's API key       USER#<uid>              KEY#<key_id>
//	username (unique)    USERNAME#<name>         USERNAME
//	API key by hash      KEY#<hash>              KEY
//
// Names in uniqueness keys are normalised (trimmed, lower-cased). Ids never contain '#'
// (policy.ValidID), so every key splits unambiguously.
const (
	groupPKPrefix       = "GROUP#"
	groupSK             = "GROUP"
	groupMemberSKPrefix = "MEMBER#"
	groupHistSKPrefix   = "HIST#"
	groupNamePKPrefix   = "GROUPNAME#"
	groupNameSK         = "GROUPNAME"
	userPKPrefix        = "USER#"
	userSK              = "USER"
	userAPIKeySKPrefix  = "KEY#"
	usernamePKPrefix    = "USERNAME#"
	usernameSK          = "USERNAME"
	apiKeyPKPrefix      = "KEY#"
	apiKeySK            = "KEY"

	// groupsIndexPK and usersIndexPK are the ByOwner (GSI1) partitions that list every group
	// and every user; the sort key is the id.
	groupsIndexPK = "GROUPS"
	usersIndexPK  = "USERS"
)

// Attribute names of the table's keys, from the one table definition.
var (
	attrPK     = tabledef.PartitionKey.Name
	attrSK     = tabledef.SortKey.Name
	attrGSI1PK = tabledef.Indexes[0].PartitionKey.Name
	attrGSI1SK = tabledef.Indexes[0].SortKey.Name
)

// tableKey is the primary key of one item.
type tableKey = ddbkit.Key

// normalizedName is the form of a group name or username that uniqueness is decided on
// (policy.NameKey: NFKC, case folding, white space trimmed and collapsed): "Admins", "admins",
// " ADMINS " and the full-width "Ａｄｍｉｎｓ" are the same name.
func normalizedName(name string) string {
	return policy.NameKey(name)
}

// legacyNameKey is the key a name record of name had before issue 21 (lower case, trimmed),
// when it differs from today's key and from every key in also: deleting or renaming a group or
// user created before then removes that record too (under nameHeldBy, so only its own).
func legacyNameKey(pkPrefix, sk, name string, also ...tableKey) (tableKey, bool) {
	legacy := tableKey{PK: pkPrefix + strings.ToLower(strings.TrimSpace(name)), SK: sk}
	if legacy.PK == pkPrefix+normalizedName(name) {
		return tableKey{}, false
	}
	for _, k := range also {
		if k == legacy {
			return tableKey{}, false
		}
	}
	return legacy, true
}

func groupKey(groupID string) tableKey {
	return tableKey{PK: groupPKPrefix + groupID, SK: groupSK}
}

func groupMemberKey(groupID, userID string) tableKey {
	return tableKey{PK: groupPKPrefix + groupID, SK: groupMemberSKPrefix + userID}
}

// groupHistoryKey orders a group's settings history by the group version the change produced
// (the commit order, which wall clocks of different writers cannot guarantee), then by the
// change's position within that write. Both are zero-padded so that string order is numeric.
func groupHistoryKey(groupID string, version int64, seq int) tableKey {
	return tableKey{PK: groupPKPrefix + groupID, SK: fmt.Sprintf("%s%019d#%03d", groupHistSKPrefix, version, seq)}
}

func groupNameKey(name string) tableKey {
	return tableKey{PK: groupNamePKPrefix + normalizedName(name), SK: groupNameSK}
}

func userKey(userID string) tableKey {
	return tableKey{PK: userPKPrefix + userID, SK: userSK}
}

func usernameKey(username string) tableKey {
	return tableKey{PK: usernamePKPrefix + normalizedName(username), SK: usernameSK}
}

// userAPIKeyKey is the listing copy of an API key, under its user.
func userAPIKeyKey(userID, keyID string) tableKey {
	return tableKey{PK: userPKPrefix + userID, SK: userAPIKeySKPrefix + keyID}
}

// apiKeyHashKey is the copy of an API key that authentication looks up by the secret's hash.
func apiKeyHashKey(hash string) tableKey {
	return tableKey{PK: apiKeyPKPrefix + hash, SK: apiKeySK}
}
