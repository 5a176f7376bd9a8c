package awsops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestOpsOf checks how SDK calls map to IAM actions and resources: a transaction item by item,
// an index query on its index, other services on their resource kind.
func TestOpsOf(t *testing.T) {
	tx := &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
		{Put: &ddbtypes.Put{}}, {Update: &ddbtypes.Update{}}, {Delete: &ddbtypes.Delete{}}, {ConditionCheck: &ddbtypes.ConditionCheck{}},
	}}
	tests := []struct {
		service, op string
		params      any
		want        string
	}{
		{"DynamoDB", "TransactWriteItems", tx, "dynamodb:PutItem table,dynamodb:UpdateItem table,dynamodb:DeleteItem table,dynamodb:ConditionCheckItem table"},
		{"DynamoDB", "Query", &dynamodb.QueryInput{IndexName: aws.String("Due")}, "dynamodb:Query index/Due"},
		{"DynamoDB", "Query", &dynamodb.QueryInput{}, "dynamodb:Query table"},
		{"DynamoDB", "Scan", &dynamodb.ScanInput{}, "dynamodb:Scan table"},
		{"DynamoDB", "GetItem", &dynamodb.GetItemInput{}, "dynamodb:GetItem table"},
		{"SFN", "StartExecution", nil, "states:StartExecution stateMachine"},
		{"SFN", "StopExecution", nil, "states:StopExecution execution"},
		{"EventBridge", "PutEvents", nil, "events:PutEvents eventBus"},
		{"Secrets Manager", "GetSecretValue", nil, "secretsmanager:GetSecretValue secret"},
	}
	for _, tc := range tests {
		var got []string
		for _, op := range opsOf(tc.service, tc.op, tc.params) {
			got = append(got, op.String())
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%s %s: got %v, want %s", tc.service, tc.op, got, tc.want)
		}
	}
}

// TestCheck checks the comparison with a granted list: equal passes; a missing or an extra
// operation is named.
func TestCheck(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fn.txt")
	if err := os.WriteFile(file, []byte("# comment\ndynamodb:GetItem table\nstates:StopExecution execution\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	get, stop := Op{"dynamodb:GetItem", "table"}, Op{"states:StopExecution", "execution"}
	if diff, err := Check(file, []Op{get, stop}); err != nil || diff != "" {
		t.Errorf("equal: diff %q, err %v", diff, err)
	}
	diff, err := Check(file, []Op{get, {"dynamodb:Scan", "table"}})
	if err != nil || !strings.Contains(diff, "never performed: states:StopExecution execution") ||
		!strings.Contains(diff, "not granted): dynamodb:Scan table") {
		t.Errorf("different: diff %q, err %v", diff, err)
	}
}

// TestGrantedLists checks that every function's embedded list parses and is not empty.
func TestGrantedLists(t *testing.T) {
	for _, fn := range []string{"api", "sweeper", "publisher", "timelimit"} {
		ops, err := Granted(fn)
		if err != nil || len(ops) == 0 {
			t.Errorf("%s: %d operations, %v", fn, len(ops), err)
		}
	}
	if _, err := Granted("nope"); err == nil {
		t.Errorf("an unknown function has a list")
	}
}
