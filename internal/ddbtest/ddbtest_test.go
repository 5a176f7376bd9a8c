package ddbtest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func TestNewTableIsEmptyAndCounted(t *testing.T) {
	tb := NewTable(t)
	out, err := tb.Client.Scan(context.Background(), &dynamodb.ScanInput{TableName: &tb.Name})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	if got := len(out.Items); got != 0 {
		t.Errorf("items in a new table: got %d, want 0", got)
	}
	if got := tb.Calls(); got != 1 {
		t.Errorf("calls after one scan: got %d, want 1", got)
	}
}
