package ddbstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/policy"
	"wspolicy/internal/tabledef"
	"wspolicy/internal/workspaces"
)

// Key layout of the Workspaces registry (issue 15):
//
//	item                 PK                      SK                      GSI1PK / GSI1SK
//	workspace            WORKSPACE#<wid>         WORKSPACE               WORKSPACES / <wid>
//	registry in use      WORKSPACES              REGISTRY
//
// A workspace is one item holding its fields as JSON (doc) and its version; the registry
// marker is written with the first workspace and never removed: from then on every session
// start names a registered workspace.
const (
	workspacePKPrefix    = "WORKSPACE#"
	workspaceSK          = "WORKSPACE"
	workspacesIndexPK    = "WORKSPACES"
	workspaceRegistrySK  = "REGISTRY"
	workspaceAttrVersion = "version"
)

var _ workspaces.Store = (*Store)(nil)

func workspaceKey(id string) tableKey { return tableKey{PK: workspacePKPrefix + id, SK: workspaceSK} }

func workspaceRegistryKey() tableKey { return tableKey{PK: workspacesIndexPK, SK: workspaceRegistrySK} }

type workspaceRecord struct {
	PK      string `dynamodbav:"PK"`
	SK      string `dynamodbav:"SK"`
	GSI1PK  string `dynamodbav:"GSI1PK"`
	GSI1SK  string `dynamodbav:"GSI1SK"`
	Doc     string `dynamodbav:"doc"`
	Version int64  `dynamodbav:"version"`
}

type workspaceRegistryRecord struct {
	PK    string    `dynamodbav:"PK"`
	SK    string    `dynamodbav:"SK"`
	Since time.Time `dynamodbav:"since"`
}

func newWorkspaceRecord(w workspaces.Workspace) (workspaceRecord, error) {
	doc, err := json.Marshal(w)
	if err != nil {
		return workspaceRecord{}, fmt.Errorf("encode workspace %s: %w", w.WorkspaceID, err)
	}
	k := workspaceKey(w.WorkspaceID)
	return workspaceRecord{PK: k.PK, SK: k.SK, GSI1PK: workspacesIndexPK, GSI1SK: w.WorkspaceID, Doc: string(doc), Version: w.Version}, nil
}

func (r workspaceRecord) workspace() (workspaces.Workspace, error) {
	var w workspaces.Workspace
	if err := json.Unmarshal([]byte(r.Doc), &w); err != nil {
		return workspaces.Workspace{}, fmt.Errorf("decode workspace %s: %w", r.GSI1SK, err)
	}
	w.Version = r.Version
	if w.Groups == nil {
		w.Groups = []string{}
	}
	if w.Categories == nil {
		w.Categories = []string{}
	}
	return w, nil
}

// CreateWorkspace stores a new workspace and marks the registry in use, in one transaction.
func (s *Store) CreateWorkspace(ctx context.Context, w workspaces.Workspace) error {
	if !policy.ValidID(w.WorkspaceID) {
		return policy.FieldErrorf("workspace_id", policy.CodeInvalidID, "%q is not a valid workspace id", w.WorkspaceID)
	}
	rec, err := newWorkspaceRecord(w)
	if err != nil {
		return err
	}
	tx := s.newTx()
	tx.Put(rec, ddbkit.ItemAbsent())
	tx.Put(workspaceRegistryRecord{PK: workspacesIndexPK, SK: workspaceRegistrySK, Since: w.CreatedAt.UTC()}, expression.ConditionBuilder{})
	err = s.transactWrite(ctx, tx)
	if _, taken := ddbkit.ConditionFailedAt(err, 0); taken {
		return policy.Errorf(policy.KindConflict, policy.CodeWorkspaceExists, "workspace %s already exists", w.WorkspaceID)
	}
	if err != nil {
		return fmt.Errorf("create workspace %s: %w", w.WorkspaceID, ddbkit.StoreError(err))
	}
	return nil
}

// GetWorkspace reads a workspace (strongly consistent).
func (s *Store) GetWorkspace(ctx context.Context, id string) (workspaces.Workspace, error) {
	if !policy.ValidID(id) {
		return workspaces.Workspace{}, workspaces.ErrNotFound(id)
	}
	var rec workspaceRecord
	found, err := s.kt.GetRecord(ctx, workspaceKey(id), true, &rec)
	if err != nil {
		return workspaces.Workspace{}, fmt.Errorf("read workspace %s: %w", id, err)
	}
	if !found {
		return workspaces.Workspace{}, workspaces.ErrNotFound(id)
	}
	return rec.workspace()
}

// ListWorkspaces lists every workspace: the ByOwner index gives the keys (it does not copy a
// workspace's doc), one BatchGetItem per 100 reads the items.
func (s *Store) ListWorkspaces(ctx context.Context) ([]workspaces.Workspace, error) {
	in, err := ddbkit.KeyQuery(tabledef.ByOwner, expression.Key(attrGSI1PK).Equal(expression.Value(workspacesIndexPK)), nil)
	if err != nil {
		return nil, err
	}
	var keys []tableKey
	err = s.kt.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		var rec workspaceRecord
		if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
			return fmt.Errorf("decode workspace key: %w", err)
		}
		keys = append(keys, tableKey{PK: rec.PK, SK: rec.SK})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	out := []workspaces.Workspace{}
	err = s.kt.BatchGet(ctx, keys, false, func(item map[string]ddbtypes.AttributeValue) error {
		var rec workspaceRecord
		if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
			return fmt.Errorf("decode workspace: %w", err)
		}
		w, err := rec.workspace()
		if err != nil {
			return err
		}
		out = append(out, w)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	return out, nil
}

// PutWorkspace replaces a workspace that is still at version ifVersion.
func (s *Store) PutWorkspace(ctx context.Context, w workspaces.Workspace, ifVersion int64) error {
	rec, err := newWorkspaceRecord(w)
	if err != nil {
		return err
	}
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return err
	}
	cond := expression.Name(workspaceAttrVersion).Equal(expression.Value(ifVersion))
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression:                 expr.Condition(),
		ExpressionAttributeNames:            expr.Names(),
		ExpressionAttributeValues:           expr.Values(),
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	if old, failed := conditionFailedItem(err); failed {
		if len(old) == 0 {
			return workspaces.ErrNotFound(w.WorkspaceID)
		}
		return policy.Errorf(policy.KindPrecondition, policy.CodeVersionMismatch, "workspace %s changed since it was read", w.WorkspaceID)
	}
	return fmt.Errorf("update workspace %s: %w", w.WorkspaceID, ddbkit.StoreError(err))
}

// DeleteWorkspace deletes a workspace.
func (s *Store) DeleteWorkspace(ctx context.Context, id string) error {
	if !policy.ValidID(id) {
		return workspaces.ErrNotFound(id)
	}
	expr, err := expression.NewBuilder().WithCondition(ddbkit.ItemExists()).Build()
	if err != nil {
		return err
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: workspaceKey(id).Attributes(),
		ConditionExpression: expr.Condition(), ExpressionAttributeNames: expr.Names(),
	})
	if _, failed := conditionFailedItem(err); failed {
		return workspaces.ErrNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("delete workspace %s: %w", id, ddbkit.StoreError(err))
	}
	return nil
}

// SetWorkspaceGroup allows or disallows a group: read, change, write at the version read
// (with a check that the group is live when allowing), again when another writer came first.
func (s *Store) SetWorkspaceGroup(ctx context.Context, workspaceID, groupID string, allow bool, at time.Time) (workspaces.Workspace, error) {
	if !policy.ValidID(groupID) {
		return workspaces.Workspace{}, errGroupNotFound(groupID)
	}
	for attempt := 0; attempt < maxRaceAttempts; attempt++ {
		if attempt > 0 {
			if err := ddbkit.Pause(ctx, attempt); err != nil {
				return workspaces.Workspace{}, err
			}
		}
		w, err := s.GetWorkspace(ctx, workspaceID)
		if err != nil {
			return workspaces.Workspace{}, err
		}
		has := slices.Contains(w.Groups, groupID)
		if has == allow {
			if allow {
				// Still check the group exists, so the answer does not depend on the past.
				if _, err := s.liveGroup(ctx, groupID); err != nil {
					return workspaces.Workspace{}, err
				}
			}
			return w, nil
		}
		read := w.Version
		if allow {
			w.Groups = append(w.Groups, groupID)
			slices.Sort(w.Groups)
		} else {
			w.Groups = slices.DeleteFunc(w.Groups, func(g string) bool { return g == groupID })
		}
		w.Version++
		w.UpdatedAt = at.UTC()
		rec, err := newWorkspaceRecord(w)
		if err != nil {
			return workspaces.Workspace{}, err
		}
		tx := s.newTx()
		tx.Put(rec, expression.Name(workspaceAttrVersion).Equal(expression.Value(read)))
		if allow {
			tx.Check(groupKey(groupID), groupIsLive())
		}
		err = s.transactWrite(ctx, tx)
		if err == nil {
			return w, nil
		}
		if _, failed := ddbkit.ConditionFailedAt(err, 1); failed {
			return workspaces.Workspace{}, errGroupNotFound(groupID)
		}
		if _, failed := ddbkit.ConditionFailedAt(err, 0); failed {
			continue
		}
		return workspaces.Workspace{}, fmt.Errorf("set group %s of workspace %s: %w", groupID, workspaceID, ddbkit.StoreError(err))
	}
	return workspaces.Workspace{}, policy.Errorf(policy.KindUnavailable, policy.CodeRetryLater, "workspace %s kept changing concurrently, retry later", workspaceID)
}

// WorkspaceForStart reads a workspace and the registry marker in one BatchGetItem (strongly
// consistent).
func (s *Store) WorkspaceForStart(ctx context.Context, id string) (workspaces.Workspace, bool, bool, error) {
	keys := []tableKey{workspaceRegistryKey()}
	if policy.ValidID(id) {
		keys = append(keys, workspaceKey(id))
	}
	var (
		w            workspaces.Workspace
		found, inUse bool
	)
	err := s.kt.BatchGet(ctx, keys, true, func(item map[string]ddbtypes.AttributeValue) error {
		var rec workspaceRecord
		if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
			return fmt.Errorf("decode workspace: %w", err)
		}
		if rec.SK == workspaceRegistrySK {
			inUse = true
			return nil
		}
		var err error
		w, err = rec.workspace()
		found = err == nil
		return err
	})
	if err != nil {
		return workspaces.Workspace{}, false, false, fmt.Errorf("read workspace %s: %w", id, err)
	}
	return w, found, inUse, nil
}

// conditionFailedItem reports whether err is a failed condition of a single-item write, with
// the item as it was (empty when it did not exist or was not returned).
func conditionFailedItem(err error) (map[string]ddbtypes.AttributeValue, bool) {
	var cf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return cf.Item, true
	}
	return nil, false
}
