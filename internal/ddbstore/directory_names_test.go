package ddbstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/policy"
)

// TestLookAlikeNames: names that differ only by invisible characters are refused, and names
// that differ only by case, width or compatibility forms are one name (issue 21).
func TestLookAlikeNames(t *testing.T) {
	s, _ := newDirStore(t)
	ctx := context.Background()
	if _, err := s.CreateGroup(ctx, policy.Group{ID: "g_eng", Name: "Engineering", Priority: 10}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Engineering\u200b", "\u200bEngineering", "Engi\u2060neering", "Engineering\ufeff", "Engineering\u00ad", "Engineering\u3164", "Eng\tineering"} {
		_, err := s.CreateGroup(ctx, policy.Group{ID: "g_x", Name: name, Priority: 10})
		wantDirErr(t, err, policy.KindInvalid, "invalid_name")
	}
	for _, name := range []string{"ENGINEERING", "Ｅｎｇｉｎｅｅｒｉｎｇ", " engineering\u00a0", "engineering\u3000"} {
		_, err := s.CreateGroup(ctx, policy.Group{ID: "g_x", Name: name, Priority: 10})
		wantDirErr(t, err, policy.KindConflict, "group_name_taken")
	}
	// A rename checks the same way.
	if _, err := s.CreateGroup(ctx, policy.Group{ID: "g_ops", Name: "Ops", Priority: 11}); err != nil {
		t.Fatal(err)
	}
	bad := "Engineering\u2060"
	_, err := s.UpdateGroup(ctx, "g_ops", policy.GroupPatch{Name: &bad}, 0, dt0)
	wantDirErr(t, err, policy.KindInvalid, "invalid_name")
	wide := "ＥＮＧＩＮＥＥＲＩＮＧ"
	_, err = s.UpdateGroup(ctx, "g_ops", policy.GroupPatch{Name: &wide}, 0, dt0)
	wantDirErr(t, err, policy.KindConflict, "group_name_taken")
	// A name whose NFKC form would not fit a DynamoDB key is refused, not a 500.
	_, err = s.CreateGroup(ctx, policy.Group{ID: "g_long", Name: strings.Repeat("\ufdfa", 80), Priority: 10})
	wantDirErr(t, err, policy.KindInvalid, "invalid_name")

	if _, err := s.CreateUser(ctx, policy.User{ID: "u_alice", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateUser(ctx, policy.User{ID: "u_x", Username: "alice\u200b"})
	wantDirErr(t, err, policy.KindInvalid, "invalid_username")
	_, err = s.CreateUser(ctx, policy.User{ID: "u_x", Username: "ＡＬＩＣＥ"})
	wantDirErr(t, err, policy.KindConflict, "username_taken")
}

// TestLegacyNameRecordsAreRemoved: a group or user created before issue 21 holds its name
// under the old key (lower case only); deleting or renaming it frees that key too.
func TestLegacyNameRecordsAreRemoved(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	// moveKey moves a name record from today's key to the old one, as an old write left it.
	moveKey := func(from, to string) {
		t.Helper()
		key := map[string]ddbtypes.AttributeValue{"PK": &ddbtypes.AttributeValueMemberS{Value: from}, "SK": nil}
		out, err := tb.Client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(tb.Name)})
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range out.Items {
			if item["PK"].(*ddbtypes.AttributeValueMemberS).Value != from {
				continue
			}
			key["SK"] = item["SK"]
			if _, err := tb.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tb.Name), Key: key}); err != nil {
				t.Fatal(err)
			}
			item["PK"] = &ddbtypes.AttributeValueMemberS{Value: to}
			if _, err := tb.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tb.Name), Item: item}); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("no item %s", from)
	}
	pks := func() map[string]bool {
		out, err := tb.Client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(tb.Name)})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, item := range out.Items {
			m[item["PK"].(*ddbtypes.AttributeValueMemberS).Value] = true
		}
		return m
	}
	g := dirMust[policy.Group](t)(s.CreateGroup(ctx, policy.Group{ID: "g_1", Name: "Straße", Priority: 10}))
	moveKey("GROUPNAME#strasse", "GROUPNAME#straße")
	renamed := "Gasse"
	if _, err := s.UpdateGroup(ctx, g.ID, policy.GroupPatch{Name: &renamed}, 0, dt0); err != nil {
		t.Fatal(err)
	}
	if pks()["GROUPNAME#straße"] {
		t.Fatal("the old name record outlived a rename")
	}
	dirMust[policy.Group](t)(s.CreateGroup(ctx, policy.Group{ID: "g_2", Name: "Maße", Priority: 12}))
	moveKey("GROUPNAME#masse", "GROUPNAME#maße")
	if err := s.DeleteGroup(ctx, "g_2", 0); err != nil {
		t.Fatal(err)
	}
	if pks()["GROUPNAME#maße"] {
		t.Fatal("the old name record outlived its group")
	}
	dirMust[policy.User](t)(s.CreateUser(ctx, policy.User{ID: "u_1", Username: "Straße"}))
	moveKey("USERNAME#strasse", "USERNAME#straße")
	if err := s.DeleteUser(ctx, "u_1"); err != nil {
		t.Fatal(err)
	}
	if m := pks(); m["USERNAME#straße"] {
		t.Fatalf("the old username record outlived the user: %v", m)
	}
}
