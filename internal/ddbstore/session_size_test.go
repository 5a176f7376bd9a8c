package ddbstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/launch"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
	"wspolicy/internal/tabledef"
	"wspolicy/internal/usage"
)

// itemSize is an item's size as DynamoDB bills it: for each attribute the length of its name
// plus its value's (strings their length, numbers one byte per two significant digits plus
// one, booleans one byte). A write costs one unit per started KB of it.
func itemSize(t *testing.T, item map[string]ddbtypes.AttributeValue) int {
	t.Helper()
	n := 0
	for name, v := range item {
		n += len(name)
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			n += len(v.Value)
		case *ddbtypes.AttributeValueMemberN:
			digits := strings.Trim(strings.NewReplacer("-", "", ".", "").Replace(v.Value), "0")
			n += (len(digits)+1)/2 + 1
		case *ddbtypes.AttributeValueMemberBOOL:
			n++
		default:
			t.Fatalf("attribute %s: type %T not sized", name, v)
		}
	}
	return n
}

// rawItem reads an item as stored; nil when there is none.
func rawItem(t *testing.T, env sessionEnv, pk, sk string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := env.tb.Client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(env.tb.Name), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: pk}, "SK": &ddbtypes.AttributeValueMemberS{Value: sk},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func attrNames(item map[string]ddbtypes.AttributeValue) []string {
	var names []string
	for n := range item {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// fullLaunchDocs builds, as the sessions service does at a start, the client settings and
// launch configuration of a user in two groups with volume mappings, a run_config and the
// environment exposed, who registered two storage mappings.
func fullLaunchDocs(t *testing.T, user policy.User, imageID string) (clientSettings, launchConfig []byte) {
	t.Helper()
	vol := func(host, bind, mode string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{%q: {"bind": %q, "mode": %q, "uid": 1000, "gid": 1000, "required": true, "skip_check": false, "timeout": 10},
			"/mnt/shared/{user_id}/%s": {"bind": "/mnt/shared/%s", "mode": "ro", "uid": 1000, "gid": 1000}}`, host, bind, mode, mode, mode))
	}
	res := settings.Resolve([]settings.GroupInput{
		{ID: "g_engineering_0000001", Name: "Engineering", Priority: 10, Settings: map[string]json.RawMessage{
			"volume_mapping":       vol("/nfs/home/{username}", "/home/kasm-user/nfs", "rw"),
			"run_config":           json.RawMessage(`{"hostname": "ws-{username}", "environment": {"TZ": "Europe/Berlin", "LANG": "de_DE.UTF-8"}, "shm_size": "2g", "cpu_quota": 200000}`),
			"allow_kasm_downloads": json.RawMessage(`false`), "expose_user_environment_vars": json.RawMessage(`true`),
			"web_filter_policy": json.RawMessage(`"wf_engineering"`), "keepalive_interval": json.RawMessage(`300`),
			"allow_user_storage_mapping": json.RawMessage(`true`),
		}},
		{ID: "g_all_staff_000000002", Name: "All staff", Priority: 20, Settings: map[string]json.RawMessage{
			"volume_mapping": vol("/datasets", "/mnt/datasets", "ro"), "allow_kasm_uploads": json.RawMessage(`true`),
		}},
	})
	var mappings []launch.StorageMapping
	for i, body := range []string{
		`{"host_path": "/home/{username}/projects", "bind": "/home/kasm-user/projects", "mode": "rw", "uid": 1000, "gid": 1000}`,
		`{"host_path": "/scratch/{user_id}", "bind": "/scratch", "mode": "rw", "uid": 0, "gid": 0, "required": false}`,
	} {
		m := storageMapping(t, user.ID, body)
		m.ID, m.CreatedAt = fmt.Sprintf("m_%015d", i), st0
		mappings = append(mappings, m)
	}
	cs, err := json.Marshal(launch.ClientSettings(res))
	if err != nil {
		t.Fatal(err)
	}
	built := launch.BuildLaunch(res, user, mappings, imageID)
	if len(built.Mounts) != 6 || len(built.Environment) != 2 || len(built.RunConfig) != 4 {
		t.Fatalf("launch configuration: got %d mounts, %d variables, %d run_config keys; want 6, 2 and 4", len(built.Mounts), len(built.Environment), len(built.RunConfig))
	}
	l, err := json.Marshal(built)
	if err != nil {
		t.Fatal(err)
	}
	return cs, l
}

// updateLog records, for every UpdateItem sent through a client made by capacityClient, the
// write units DynamoDB reports (the table's and each index's) and the attribute names the
// request returned.
type updateLog struct {
	mu      sync.Mutex
	table   []float64
	indexes []map[string]float64
	names   [][]string
}

func (l *updateLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.table, l.indexes, l.names = nil, nil, nil
}

// capacityClient is a client of env's DynamoDB Local that asks for the consumed capacity of
// every UpdateItem and records it in the returned log.
func capacityClient(t *testing.T, env sessionEnv) (*dynamodb.Client, *updateLog) {
	t.Helper()
	log := &updateLog{}
	client, err := ddbkit.NewClient(context.Background(), env.tb.Endpoint, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("recordCapacity",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if p, ok := in.Parameters.(*dynamodb.UpdateItemInput); ok {
						p.ReturnConsumedCapacity = ddbtypes.ReturnConsumedCapacityIndexes
					}
					out, md, err := next.HandleInitialize(ctx, in)
					if r, ok := out.Result.(*dynamodb.UpdateItemOutput); ok && err == nil && r.ConsumedCapacity != nil {
						log.mu.Lock()
						defer log.mu.Unlock()
						idx := map[string]float64{}
						for name, c := range r.ConsumedCapacity.GlobalSecondaryIndexes {
							idx[name] = aws.ToFloat64(c.CapacityUnits)
						}
						table := 0.0
						if r.ConsumedCapacity.Table != nil {
							table = aws.ToFloat64(r.ConsumedCapacity.Table.CapacityUnits)
						}
						log.table, log.indexes = append(log.table, table), append(log.indexes, idx)
						log.names = append(log.names, attrNames(r.Attributes))
					}
					return out, md, err
				}), middleware.After)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return client, log
}

// TestSessionItemSize checks what moving the client settings and launch configuration to the
// session's launch item buys: with a full launch configuration the session item stays under
// 1 KB — one write unit per keepalive on the table, and no more than a delete and a put of a
// 1 KB entry on the Due index (whose sort key the keepalive moves) — and the launch item
// carries the documents and no index attribute. The same keepalive on the item with the
// documents on it is measured alongside, for comparison (logged).
func TestSessionItemSize(t *testing.T) {
	long := func(prefix string, n int) string { return prefix + strings.Repeat("x", n-len(prefix)) }
	limited := testLifetime()
	limited.TimeLimit = 8 * time.Hour
	tests := []struct {
		name    string
		session string
		user    string
		image   string
		lt      lifecycle.Lifetime
		budget  bool // charged to a per_user budget (budget key and usage deadline set)
	}{
		{name: "typical ids", session: "s_m2x6p4ha3vdc9q7t", user: "u_k7d2p9qa4mzx81bc", image: "kasmweb/desktop:1.16.0", lt: testLifetime()},
		// Session ids are made by the service (policy.NewID); user ids may be set by an
		// administrator (64 characters at most), image ids by the client (256 bytes at most).
		{name: "the longest ids the API accepts, a time limit and a budget", session: policy.NewID("s"), user: long("u_", 64),
			image: long("registry.example.com/", 256), lt: limited, budget: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			env := newSessionEnv(t, tt.user)
			user := policy.User{ID: tt.user, Username: "ana.lopez-garcia"}
			s, created := lifecycle.NewSession(tt.session, tt.user, tt.image, true, tt.lt, st0)
			s.ClientSettings, s.Launch = fullLaunchDocs(t, user, tt.image)
			var b usage.Budget
			if tt.budget {
				var err error
				if b, err = usage.NewBudget(tt.user, usage.Limit{Type: "per_user", Interval: "daily", Hours: 8}, usage.Source{}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := env.ss.StartCharged(ctx, s, created, b); err != nil {
				t.Fatal(err)
			}

			item := rawItem(t, env, "SESSION#"+tt.session, "SESSION")
			size := itemSize(t, item)
			if size >= 1024 {
				t.Errorf("session item: got %d bytes, want under 1024 (one write unit)", size)
			}
			for _, name := range []string{"client_settings", "launch"} {
				if _, ok := item[name]; ok {
					t.Errorf("session item: got attribute %s, want it on the launch item only", name)
				}
			}
			docs := rawItem(t, env, "SESSION#"+tt.session, "SESSION#LAUNCH")
			got := func(name string) string {
				v, _ := docs[name].(*ddbtypes.AttributeValueMemberS)
				if v == nil {
					return ""
				}
				return v.Value
			}
			if got("client_settings") != string(s.ClientSettings) || got("launch") != string(s.Launch) {
				t.Errorf("launch item: got client_settings %q launch %q, want the session's", got("client_settings"), got("launch"))
			}
			if names := fmt.Sprint(attrNames(docs)); names != "[PK SK client_settings launch]" {
				t.Errorf("launch item attributes: got %s, want [PK SK client_settings launch] (no index attribute, no TTL while live)", names)
			}
			inline := size + len("client_settings") + len(s.ClientSettings) + len("launch") + len(s.Launch)
			t.Logf("session item %d bytes (write units: %d); launch item %d bytes; with the documents on it the session item would be %d bytes (write units: %d)",
				size, int(math.Ceil(float64(size)/1024)), itemSize(t, docs), inline, int(math.Ceil(float64(inline)/1024)))

			// The keepalive, through a client that reports what it consumed.
			client, log := capacityClient(t, env)
			ss := ddbstore.Open(client, env.tb.Name).Sessions()
			keepalive := func(id string, at time.Time) {
				t.Helper()
				if _, err := sessions.RunKeepalive(ctx, ss, id, tt.user, at, 0); err != nil {
					t.Fatal(err)
				}
			}
			keepalive(tt.session, st0.Add(time.Second)) // a time-limited session's first one learns it is
			log.reset()
			env.tb.ResetCalls()
			keepalive(tt.session, st0.Add(2*time.Second))
			if len(log.table) != 1 {
				t.Fatalf("keepalive: got %d UpdateItem requests, want 1", len(log.table))
			}
			if log.table[0] != 1 || log.indexes[0][tabledef.ByDue] > 2 {
				t.Errorf("keepalive write units: got table %v, indexes %v; want table 1, Due at most 2", log.table[0], log.indexes[0])
			}
			for _, name := range log.names[0] {
				if name == "client_settings" || name == "launch" {
					t.Errorf("keepalive returned %s: got attributes %v", name, log.names[0])
				}
			}
			t.Logf("keepalive: table %v, indexes %v write units", log.table[0], log.indexes[0])

			// For comparison: the same session with the documents on its item (the earlier layout).
			copyID := tt.session[:len(tt.session)-1] + "2"
			old := rawItem(t, env, "SESSION#"+tt.session, "SESSION")
			old["PK"] = &ddbtypes.AttributeValueMemberS{Value: "SESSION#" + copyID}
			old["session_id"] = &ddbtypes.AttributeValueMemberS{Value: copyID}
			old["client_settings"] = &ddbtypes.AttributeValueMemberS{Value: string(s.ClientSettings)}
			old["launch"] = &ddbtypes.AttributeValueMemberS{Value: string(s.Launch)}
			if _, err := env.tb.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(env.tb.Name), Item: old}); err != nil {
				t.Fatal(err)
			}
			keepalive(copyID, st0.Add(time.Second))
			log.reset()
			keepalive(copyID, st0.Add(2*time.Second))
			if len(log.table) == 1 {
				t.Logf("keepalive with the documents on the session item (%d bytes): table %v, indexes %v write units",
					itemSize(t, old), log.table[0], log.indexes[0])
			}
		})
	}
}
