package ddbstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/launch"
	"wspolicy/internal/policy"
)

// storageMapping parses body as the API does and gives it to user.
func storageMapping(t *testing.T, user, body string) launch.StorageMapping {
	t.Helper()
	m, err := launch.ParseStorageMapping(json.RawMessage(body))
	if err != nil {
		t.Fatalf("parse %s: %v", body, err)
	}
	m.UserID = user
	return m
}

// userCounts reads the counters the session store keeps on a user item (-1 when absent).
func (env sessionEnv) userCounts(t *testing.T, user string) (mappings, sessions int64) {
	t.Helper()
	out, err := env.tb.Client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(env.tb.Name), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: "USER#" + user},
			"SK": &ddbtypes.AttributeValueMemberS{Value: "USER"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	num := func(name string) int64 {
		v, ok := out.Item[name].(*ddbtypes.AttributeValueMemberN)
		if !ok {
			return -1
		}
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return num("storage_mappings"), num("active_sessions")
}

func mappingIDs(ms []launch.StorageMapping) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

func TestStorageMappingsStore(t *testing.T) {
	ctx := context.Background()
	env := newSessionEnv(t, "u1", "u2")
	if err := env.dir.PutKey(ctx, policy.APIKey{ID: "k1", UserID: "u1", Role: policy.RoleUser, Hash: "h1", CreatedAt: st0}); err != nil {
		t.Fatal(err)
	}
	body := `{"host_path": "/srv/{username}/data", "bind": "/home/kasm-user/data", "mode": "rw", "uid": 1000, "gid": 1000}`
	tests := []struct {
		name      string
		run       func() error
		wantKind  policy.Kind
		wantCode  string
		wantIDs   []string // u1's mappings afterwards
		wantCount int64    // u1's storage_mappings afterwards
	}{
		{
			name: "first mapping", wantIDs: []string{"m1"}, wantCount: 1,
			run: func() error {
				m := storageMapping(t, "u1", body)
				m.ID, m.CreatedAt = "m1", st0
				got, err := env.ss.CreateStorageMapping(ctx, m, 2)
				if err == nil && (got.ID != "m1" || got.HostPath != "/srv/{username}/data" || got.Mode != "rw" || !got.Required || got.Timeout != 10) {
					t.Errorf("stored %+v, want the parsed mapping with defaults and tokens kept", got)
				}
				return err
			},
		},
		{
			name: "the same mapping again (a resubmission whose answer was lost) succeeds, counted once", wantIDs: []string{"m1"}, wantCount: 1,
			run: func() error {
				m := storageMapping(t, "u1", body)
				m.ID, m.CreatedAt = "m1", st0
				_, err := env.ss.CreateStorageMapping(ctx, m, 1)
				return err
			},
		},
		{
			name: "second, registered earlier by the clock, lists first", wantIDs: []string{"m0", "m1"}, wantCount: 2,
			run: func() error {
				m := storageMapping(t, "u1", body)
				m.ID, m.CreatedAt = "m0", st0.Add(-time.Hour)
				_, err := env.ss.CreateStorageMapping(ctx, m, 2)
				return err
			},
		},
		{
			name: "third beyond the max", wantKind: policy.KindConflict, wantCode: policy.CodeMaxStorageMappings,
			wantIDs: []string{"m0", "m1"}, wantCount: 2,
			run: func() error {
				_, err := env.ss.CreateStorageMapping(ctx, storageMapping(t, "u1", body), 2)
				return err
			},
		},
		{
			name: "raised max lets one more in", wantIDs: []string{"m0", "m1", "m2"}, wantCount: 3,
			run: func() error {
				m := storageMapping(t, "u1", body)
				m.ID, m.CreatedAt = "m2", st0.Add(time.Hour)
				_, err := env.ss.CreateStorageMapping(ctx, m, 3)
				return err
			},
		},
		{
			name: "max 0 refuses without a write", wantKind: policy.KindConflict, wantCode: policy.CodeMaxStorageMappings,
			wantIDs: []string{"m0", "m1", "m2"}, wantCount: 3,
			run: func() error {
				_, err := env.ss.CreateStorageMapping(ctx, storageMapping(t, "u1", body), 0)
				return err
			},
		},
		{
			name: "same id twice", wantKind: policy.KindConflict, wantCode: "storage_mapping_exists",
			wantIDs: []string{"m0", "m1", "m2"}, wantCount: 3,
			run: func() error {
				m := storageMapping(t, "u1", body)
				m.ID = "m1"
				_, err := env.ss.CreateStorageMapping(ctx, m, 10)
				return err
			},
		},
		{
			name: "unknown user", wantKind: policy.KindNotFound, wantCode: "user_not_found",
			wantIDs: []string{"m0", "m1", "m2"}, wantCount: 3,
			run: func() error {
				_, err := env.ss.CreateStorageMapping(ctx, storageMapping(t, "nobody", body), 2)
				return err
			},
		},
		{
			name: "delete gives the place back", wantIDs: []string{"m0", "m2"}, wantCount: 2,
			run: func() error { return env.ss.DeleteStorageMapping(ctx, "u1", "m1") },
		},
		{
			name: "delete again", wantKind: policy.KindNotFound, wantCode: "storage_mapping_not_found",
			wantIDs: []string{"m0", "m2"}, wantCount: 2,
			run: func() error { return env.ss.DeleteStorageMapping(ctx, "u1", "m1") },
		},
		{
			name: "delete through another user's partition", wantKind: policy.KindNotFound, wantCode: "storage_mapping_not_found",
			wantIDs: []string{"m0", "m2"}, wantCount: 2,
			run: func() error { return env.ss.DeleteStorageMapping(ctx, "u2", "m0") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if tt.wantKind == "" && err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if tt.wantKind != "" && (policy.KindOf(err) != tt.wantKind || policy.CodeOf(err) != tt.wantCode) {
				t.Fatalf("got %v, want %s %s", err, tt.wantKind, tt.wantCode)
			}
			got, err := env.ss.StorageMappings(ctx, "u1")
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(mappingIDs(got)) != fmt.Sprint(tt.wantIDs) {
				t.Errorf("mappings: got %v, want %v", mappingIDs(got), tt.wantIDs)
			}
			if n, _ := env.userCounts(t, "u1"); n != tt.wantCount {
				t.Errorf("storage_mappings: got %d, want %d", n, tt.wantCount)
			}
		})
	}

	t.Run("the user item keeps everything else", func(t *testing.T) {
		u, err := env.dir.GetUser(ctx, "u1")
		if err != nil || u.Username != "u1" {
			t.Fatalf("user after mapping writes: got %+v, %v", u, err)
		}
		if keys, err := env.dir.ListKeys(ctx, "u1"); err != nil || len(keys) != 1 {
			t.Fatalf("keys after mapping writes: got %d, %v; want the one key", len(keys), err)
		}
	})
	t.Run("listing an unknown user", func(t *testing.T) {
		if _, err := env.ss.StorageMappings(ctx, "nobody"); policy.CodeOf(err) != "user_not_found" {
			t.Fatalf("got %v, want user_not_found", err)
		}
	})
	t.Run("listing reads one request", func(t *testing.T) {
		env.tb.ResetCalls()
		if _, err := env.ss.StorageMappings(ctx, "u2"); err != nil {
			t.Fatal(err)
		}
		if got := env.tb.Calls(); got != 1 {
			t.Fatalf("requests: got %d, want 1", got)
		}
	})
	t.Run("the user with their mappings in one request", func(t *testing.T) {
		want, err := env.ss.StorageMappings(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		g, err := env.dir.CreateGroup(ctx, policy.Group{ID: "gm", Name: "gm", Priority: 5})
		if err != nil {
			t.Fatal(err)
		}
		if err := env.dir.AddMember(ctx, g.ID, "u1", st0); err != nil {
			t.Fatal(err)
		}
		env.tb.ResetCalls()
		u, got, err := env.ss.UserWithStorageMappings(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		if calls := env.tb.Calls(); calls != 1 {
			t.Errorf("requests: got %d, want 1", calls)
		}
		if u.ID != "u1" || u.Username != "u1" || !slices.Equal(u.GroupIDs, []string{policy.AllUsersGroupID, "gm"}) {
			t.Errorf("user = %+v; want u1 in All Users and gm", u)
		}
		if len(want) == 0 || !slices.Equal(mappingIDs(got), mappingIDs(want)) {
			t.Errorf("mappings = %v; want %v (not none)", mappingIDs(got), mappingIDs(want))
		}
		if _, _, err := env.ss.UserWithStorageMappings(ctx, "nobody"); policy.CodeOf(err) != "user_not_found" {
			t.Errorf("unknown user: got %v, want user_not_found", err)
		}
	})
	t.Run("a user being deleted", func(t *testing.T) {
		if _, err := env.tb.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(env.tb.Name),
			Key: map[string]ddbtypes.AttributeValue{
				"PK": &ddbtypes.AttributeValueMemberS{Value: "USER#u2"}, "SK": &ddbtypes.AttributeValueMemberS{Value: "USER"}},
			UpdateExpression:          aws.String("SET deleting = :t"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":t": &ddbtypes.AttributeValueMemberBOOL{Value: true}},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.ss.CreateStorageMapping(ctx, storageMapping(t, "u2", body), 2); policy.CodeOf(err) != "user_not_found" {
			t.Fatalf("create: got %v, want user_not_found", err)
		}
		if _, err := env.ss.StorageMappings(ctx, "u2"); policy.CodeOf(err) != "user_not_found" {
			t.Fatalf("list: got %v, want user_not_found", err)
		}
		if _, _, err := env.ss.UserWithStorageMappings(ctx, "u2"); policy.CodeOf(err) != "user_not_found" {
			t.Fatalf("read with mappings: got %v, want user_not_found", err)
		}
	})
}

// TestDeleteUserRemovesStorageMappings checks that DeleteUser leaves nothing of a user's
// storage mappings behind (more than one BatchWriteItem's worth), keeps other users' ones, and
// that a user of the same id created afterwards starts with none.
func TestDeleteUserRemovesStorageMappings(t *testing.T) {
	ctx := context.Background()
	env := newSessionEnv(t, "u1", "u2", "u3")
	body := `{"host_path": "/srv/{username}/data", "bind": "/home/kasm-user/data", "mode": "rw", "uid": 1000, "gid": 1000}`
	give := func(user string, n int) {
		for i := range n {
			m := storageMapping(t, user, body)
			m.ID, m.CreatedAt = fmt.Sprintf("m%02d", i), st0.Add(time.Duration(i)*time.Second)
			if _, err := env.ss.CreateStorageMapping(ctx, m, 100); err != nil {
				t.Fatal(err)
			}
		}
	}
	give("u1", 27) // two BatchWriteItems of deletes
	give("u2", 2)
	if err := env.dir.PutKey(ctx, policy.APIKey{ID: "k1", UserID: "u1", Role: policy.RoleUser, Hash: "h1", CreatedAt: st0}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		user      string
		wantOther int // u2's mappings afterwards
	}{
		{name: "a user with mappings and a key", user: "u1", wantOther: 2},
		{name: "a user without mappings", user: "u3", wantOther: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := env.dir.DeleteUser(ctx, tt.user); err != nil {
				t.Fatalf("DeleteUser: %v", err)
			}
			if n := dirPartitionSize(t, env.tb, "USER#"+tt.user); n != 0 {
				t.Errorf("items left under the user: got %d, want 0", n)
			}
			if got, err := env.ss.StorageMappings(ctx, "u2"); err != nil || len(got) != tt.wantOther {
				t.Errorf("u2's mappings: got %d, %v; want %d", len(got), err, tt.wantOther)
			}
			if _, err := env.dir.CreateUser(ctx, policy.User{ID: tt.user, Username: tt.user}); err != nil {
				t.Fatalf("create the user again: %v", err)
			}
			if got, err := env.ss.StorageMappings(ctx, tt.user); err != nil || len(got) != 0 {
				t.Errorf("mappings of the new user of the same id: got %v, %v; want none", mappingIDs(got), err)
			}
			if n, _ := env.userCounts(t, tt.user); n != -1 {
				t.Errorf("storage_mappings of the new user: got %d, want none", n)
			}
		})
	}
}

// TestStorageMappingsMaxUnderConcurrency registers many mappings for one user at once: exactly
// max of them are stored, the others are refused with 409, and the count matches the items.
func TestStorageMappingsMaxUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		max         int64
		concurrent  int
		wantCreated int
	}{
		{name: "3 of 12", max: 3, concurrent: 12, wantCreated: 3},
		{name: "1 of 8", max: 1, concurrent: 8, wantCreated: 1},
		{name: "all 6 fit", max: 6, concurrent: 6, wantCreated: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newSessionEnv(t, "u1")
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				created int
				refused int
				errs    []error
			)
			for i := range tt.concurrent {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body := fmt.Sprintf(`{"host_path": "/srv/%d", "bind": "/mnt/%d", "mode": "ro", "uid": 0, "gid": 0}`, i, i)
					m := storageMapping(t, "u1", body)
					for {
						_, err := env.ss.CreateStorageMapping(ctx, m, tt.max)
						mu.Lock()
						switch {
						case err == nil:
							created++
						case policy.CodeOf(err) == policy.CodeMaxStorageMappings:
							refused++
						case policy.KindOf(err) == policy.KindUnavailable:
							mu.Unlock()
							continue // the client retries a 503
						default:
							errs = append(errs, err)
						}
						mu.Unlock()
						return
					}
				}()
			}
			wg.Wait()
			if len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			got, err := env.ss.StorageMappings(ctx, "u1")
			if err != nil {
				t.Fatal(err)
			}
			count, _ := env.userCounts(t, "u1")
			if created != tt.wantCreated || refused != tt.concurrent-tt.wantCreated || len(got) != tt.wantCreated || count != int64(tt.wantCreated) {
				t.Fatalf("created %d, refused %d, stored %d, counted %d; want %d created, %d refused, %d stored and counted",
					created, refused, len(got), count, tt.wantCreated, tt.concurrent-tt.wantCreated, tt.wantCreated)
			}
		})
	}
}
