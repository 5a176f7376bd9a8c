package ddbstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/policy"
)

// Key layout of single sign-on (issue 19):
//
//	item                      PK                        SK
//	identity → user           IDENTITY#<sha256(iss,sub)> IDENTITY
//	user → identity           USER#<uid>                IDENTITY
//	SSO group mapping         SSOMAP                    <gid>
//	SSO membership change     GROUP#<gid>               HIST#<version>#sso-<unix nanos>-<uid>
//
// The identity is keyed by the hash of issuer and subject (either may hold any character),
// never by a claim the person can change.
const (
	identityPKPrefix = "IDENTITY#"
	identitySK       = "IDENTITY"
	ssoMapPK         = "SSOMAP"
)

func identityKey(issuer, subject string) tableKey {
	sum := sha256.Sum256([]byte(issuer + "\x00" + subject))
	return tableKey{PK: identityPKPrefix + hex.EncodeToString(sum[:]), SK: identitySK}
}

func userIdentityKey(userID string) tableKey {
	return tableKey{PK: userPKPrefix + userID, SK: identitySK}
}

type identityRecord struct {
	PK        string    `dynamodbav:"PK"`
	SK        string    `dynamodbav:"SK"`
	UserID    string    `dynamodbav:"user_id"`
	Issuer    string    `dynamodbav:"issuer"`
	Subject   string    `dynamodbav:"subject"`
	IdPGroups []string  `dynamodbav:"idp_groups"`
	SyncedAt  time.Time `dynamodbav:"synced_at"`
}

type ssoMappingRecord struct {
	PK        string   `dynamodbav:"PK"`
	SK        string   `dynamodbav:"SK"`
	GroupID   string   `dynamodbav:"group_id"`
	IdPGroups []string `dynamodbav:"idp_groups"`
}

// IdentityUser returns the user an identity (issuer + subject) is linked to.
func (s *Store) IdentityUser(ctx context.Context, issuer, subject string) (string, bool, error) {
	var rec identityRecord
	found, err := s.kt.GetRecord(ctx, identityKey(issuer, subject), true, &rec)
	if err != nil || !found {
		return "", false, err
	}
	return rec.UserID, true, nil
}

// LinkIdentity links an identity to a user. replaceUserID is the user the identity was
// linked to before ("" for a new link): the write is conditioned on it, so two first sign-ins
// racing each other link one user only (the loser gets KindConflict "identity_linked").
func (s *Store) LinkIdentity(ctx context.Context, issuer, subject, userID, replaceUserID string, groups []string, at time.Time) error {
	k := identityKey(issuer, subject)
	rec := identityRecord{PK: k.PK, SK: k.SK, UserID: userID, Issuer: issuer, Subject: subject,
		IdPGroups: nonNil(groups), SyncedAt: at.UTC()}
	cond := ddbkit.ItemAbsent()
	if replaceUserID != "" {
		cond = expression.Name("user_id").Equal(expression.Value(replaceUserID))
	}
	uk := userIdentityKey(userID)
	urec := rec
	urec.PK, urec.SK = uk.PK, uk.SK
	tx := s.newTx()
	tx.Put(rec, cond)
	tx.Put(urec, expression.ConditionBuilder{})
	tx.Check(userKey(userID), userIsLive())
	err := s.transactWrite(ctx, tx)
	if err == nil {
		return nil
	}
	if _, failed := ddbkit.ConditionFailedAt(err, 0); failed {
		return policy.Errorf(policy.KindConflict, policy.CodeIdentityLinked, "this identity is already linked to a user")
	}
	if _, failed := ddbkit.ConditionFailedAt(err, 2); failed {
		return errUserNotFound(userID)
	}
	return ddbkit.StoreError(err)
}

// SetIdentityGroups records the IdP groups an identity had at its latest sign-in.
func (s *Store) SetIdentityGroups(ctx context.Context, issuer, subject, userID string, groups []string, at time.Time) error {
	for _, k := range []tableKey{identityKey(issuer, subject), userIdentityKey(userID)} {
		upd := expression.Set(expression.Name("idp_groups"), expression.Value(nonNil(groups))).
			Set(expression.Name("synced_at"), expression.Value(at.UTC()))
		e, err := expression.NewBuilder().WithUpdate(upd).WithCondition(ddbkit.ItemExists()).Build()
		if err != nil {
			return err
		}
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.table), Key: k.Attributes(), UpdateExpression: e.Update(),
			ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
		})
		if err != nil {
			return ddbkit.StoreError(err)
		}
	}
	return nil
}

// UserIdentityGroups returns the IdP groups a user had at their latest sign-in; found is
// false for a user who never signed in with the IdP.
func (s *Store) UserIdentityGroups(ctx context.Context, userID string) ([]string, bool, error) {
	if !policy.ValidID(userID) {
		return nil, false, nil
	}
	var rec identityRecord
	found, err := s.kt.GetRecord(ctx, userIdentityKey(userID), false, &rec)
	if err != nil || !found {
		return nil, false, err
	}
	return rec.IdPGroups, true, nil
}

// SSOMappings returns every group's SSO group mapping: group id → IdP group names.
func (s *Store) SSOMappings(ctx context.Context) (map[string][]string, error) {
	kc := expression.Key(attrPK).Equal(expression.Value(ssoMapPK))
	in, err := ddbkit.KeyQuery("", kc, nil)
	if err != nil {
		return nil, err
	}
	in.ConsistentRead = aws.Bool(true)
	out := map[string][]string{}
	err = s.kt.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		var rec ssoMappingRecord
		if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
			return fmt.Errorf("decode SSO mapping: %w", err)
		}
		if len(rec.IdPGroups) > 0 {
			out[rec.GroupID] = rec.IdPGroups
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetSSOMapping sets the IdP groups that confer membership of a live group (empty: none).
func (s *Store) SetSSOMapping(ctx context.Context, groupID string, idpGroups []string) error {
	if !policy.ValidID(groupID) || groupID == policy.AllUsersGroupID {
		return errGroupNotFound(groupID)
	}
	tx := s.newTx()
	if len(idpGroups) == 0 {
		tx.Delete(tableKey{PK: ssoMapPK, SK: groupID}, expression.ConditionBuilder{})
	} else {
		tx.Put(ssoMappingRecord{PK: ssoMapPK, SK: groupID, GroupID: groupID, IdPGroups: idpGroups}, expression.ConditionBuilder{})
	}
	tx.Check(groupKey(groupID), groupIsLive())
	err := s.transactWrite(ctx, tx)
	if _, failed := ddbkit.ConditionFailedAt(err, 1); failed {
		return errGroupNotFound(groupID)
	}
	return ddbkit.StoreError(err)
}

// RecordSSOMembership writes a membership change made by a sign-in into the group's history
// (actor "sso", setting "membership", the user and whether they are now a member).
func (s *Store) RecordSSOMembership(ctx context.Context, groupID, userID, idpGroup string, member bool, at time.Time) error {
	g, err := s.liveGroup(ctx, groupID)
	if err != nil {
		return err
	}
	val := func(m bool) string {
		b, _ := json.Marshal(map[string]any{"user_id": userID, "member": m, "idp_group": idpGroup})
		return string(b)
	}
	k := groupHistoryKey(groupID, g.Version, 0)
	k.SK = fmt.Sprintf("%s%019d#sso-%d-%s", groupHistSKPrefix, g.Version, at.UnixNano(), userID)
	rec := historyRecord{PK: k.PK, SK: k.SK, GroupID: groupID, Version: g.Version, At: at.UTC(),
		Actor: "sso", Setting: "membership", Old: val(!member), New: val(member)}
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item})
	return ddbkit.StoreError(err)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
