// Package awsops ties each Lambda function's IAM policy to the AWS API operations its code
// performs. Tests record the operations (Record, a middleware on the functions' own SDK
// clients, and nothing in production), compare them with the function's list in granted/, and
// the CDK app grants exactly that list (Granted), so the policy cannot drift from the code:
// a new call fails the function's test until its list — and with it the policy — says so.
//
// An operation is written as "<iam action> <resource>": the IAM action the call is authorised
// as (a TransactWriteItems is authorised item by item as PutItem, UpdateItem, DeleteItem and
// ConditionCheckItem) and the kind of resource it touches: "table" or "index/<name>" for
// DynamoDB, "stateMachine" and "execution" for Step Functions, "eventBus", "secret".
package awsops

import (
	"context"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// Resource kinds of an Op other than DynamoDB's.
const (
	ResourceTable        = "table"
	ResourceIndexPrefix  = "index/"
	ResourceStateMachine = "stateMachine"
	ResourceExecution    = "execution"
	ResourceEventBus     = "eventBus"
	ResourceSecret       = "secret"
)

// Op is one operation: the IAM action and the resource kind it is allowed on.
type Op struct {
	Action   string // e.g. dynamodb:Query
	Resource string // e.g. index/Due
}

func (o Op) String() string { return o.Action + " " + o.Resource }

// ParseOp reads an Op written by String.
func ParseOp(s string) (Op, error) {
	action, resource, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok || !strings.Contains(action, ":") || resource == "" {
		return Op{}, fmt.Errorf("awsops: %q is not \"<service>:<Action> <resource>\"", s)
	}
	return Op{Action: action, Resource: resource}, nil
}

//go:embed granted/*.txt
var granted embed.FS

// Granted returns the operations the function fn (api, sweeper, publisher, timelimit) may
// perform: its granted/<fn>.txt, one Op a line, sorted.
func Granted(fn string) ([]Op, error) {
	raw, err := granted.ReadFile("granted/" + fn + ".txt")
	if err != nil {
		return nil, fmt.Errorf("awsops: no operation list for function %q: %w", fn, err)
	}
	return parseList(string(raw))
}

// GrantedFile is the path of fn's list relative to this package's folder.
func GrantedFile(fn string) string { return filepath.Join("granted", fn+".txt") }

func parseList(s string) ([]Op, error) {
	var ops []Op
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, err := ParseOp(line)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// Recorder collects the operations of the SDK clients it is attached to.
type Recorder struct {
	mu  sync.Mutex
	ops map[Op]bool
}

var (
	activeMu sync.Mutex
	active   *Recorder
)

// Record starts recording in this process (tests only) and returns the recorder: every SDK
// client made afterwards with APIOptions or DynamoDBOption records into it.
func Record() *Recorder {
	activeMu.Lock()
	defer activeMu.Unlock()
	active = &Recorder{ops: map[Op]bool{}}
	return active
}

func current() *Recorder {
	activeMu.Lock()
	defer activeMu.Unlock()
	return active
}

// APIOptions are the SDK client options the functions make their clients with (for
// config.WithAPIOptions): the recording middleware while a test records, none otherwise.
func APIOptions() []func(*middleware.Stack) error {
	r := current()
	if r == nil {
		return nil
	}
	return []func(*middleware.Stack) error{r.addMiddleware}
}

// DynamoDBOption is APIOptions for a DynamoDB client's option functions.
func DynamoDBOption(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, APIOptions()...)
}

func (r *Recorder) addMiddleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("awsops.Record",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			r.add(opsOf(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx), in.Parameters)...)
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

func (r *Recorder) add(ops ...Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, op := range ops {
		r.ops[op] = true
	}
}

// Ops returns the recorded operations, sorted.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Op, 0, len(r.ops))
	for op := range r.ops {
		out = append(out, op)
	}
	Sort(out)
	return out
}

// Sort orders ops by action, then resource.
func Sort(ops []Op) {
	sort.Slice(ops, func(i, j int) bool { return ops[i].String() < ops[j].String() })
}

// opsOf maps one SDK call to the operations IAM authorises it as.
func opsOf(service, operation string, params any) []Op {
	switch service {
	case "DynamoDB":
		return dynamoOps(operation, params)
	case "SFN":
		res := ResourceExecution
		if operation == "StartExecution" {
			res = ResourceStateMachine
		}
		return []Op{{Action: "states:" + operation, Resource: res}}
	case "EventBridge":
		return []Op{{Action: "events:" + operation, Resource: ResourceEventBus}}
	case "Secrets Manager":
		return []Op{{Action: "secretsmanager:" + operation, Resource: ResourceSecret}}
	}
	return []Op{{Action: strings.ToLower(strings.ReplaceAll(service, " ", "")) + ":" + operation, Resource: "unknown"}}
}

func dynamoOps(operation string, params any) []Op {
	item := func(action string) Op { return Op{Action: "dynamodb:" + action, Resource: ResourceTable} }
	onIndex := func(action string, index *string) Op {
		if index != nil && *index != "" {
			return Op{Action: "dynamodb:" + action, Resource: ResourceIndexPrefix + *index}
		}
		return item(action)
	}
	switch in := params.(type) {
	case *dynamodb.QueryInput:
		return []Op{onIndex("Query", in.IndexName)}
	case *dynamodb.ScanInput:
		return []Op{onIndex("Scan", in.IndexName)}
	case *dynamodb.TransactWriteItemsInput:
		var ops []Op
		for _, ti := range in.TransactItems {
			switch {
			case ti.Put != nil:
				ops = append(ops, item("PutItem"))
			case ti.Update != nil:
				ops = append(ops, item("UpdateItem"))
			case ti.Delete != nil:
				ops = append(ops, item("DeleteItem"))
			case ti.ConditionCheck != nil:
				ops = append(ops, item("ConditionCheckItem"))
			}
		}
		return ops
	case *dynamodb.TransactGetItemsInput:
		return []Op{item("GetItem")}
	}
	return []Op{item(operation)}
}

// Check compares what a function's tests recorded with its granted list (file, relative to
// the test's folder). With WSPOLICY_UPDATE_OPS=1 in the environment it rewrites the list
// instead. It returns a description of the difference, empty when they match.
func Check(file string, recorded []Op) (string, error) {
	var b strings.Builder
	b.WriteString("# AWS API operations this function's code performs (recorded by its tests; see\n")
	b.WriteString("# internal/awsops). The CDK app grants exactly these. Regenerate: WSPOLICY_UPDATE_OPS=1 go test ./functions/<name>/\n")
	for _, op := range recorded {
		b.WriteString(op.String() + "\n")
	}
	if os.Getenv("WSPOLICY_UPDATE_OPS") == "1" {
		return "", os.WriteFile(file, []byte(b.String()), 0o644)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	want, err := parseList(string(raw))
	if err != nil {
		return "", err
	}
	have := map[Op]bool{}
	for _, op := range recorded {
		have[op] = true
	}
	listed := map[Op]bool{}
	var diff []string
	for _, op := range want {
		listed[op] = true
		if !have[op] {
			diff = append(diff, "listed but never performed: "+op.String())
		}
	}
	for _, op := range recorded {
		if !listed[op] {
			diff = append(diff, "performed but not listed (not granted): "+op.String())
		}
	}
	if len(diff) == 0 {
		return "", nil
	}
	return fmt.Sprintf("%s differs from the operations recorded (run WSPOLICY_UPDATE_OPS=1 go test to rewrite it, then review the IAM change):\n  %s",
		file, strings.Join(diff, "\n  ")), nil
}
