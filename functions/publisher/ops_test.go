package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"wspolicy/internal/awsops/awsopstest"
	"wspolicy/internal/ddbtest"
)

// TestMain records the AWS operations the function's code performs in this package's tests
// and checks them against internal/awsops/granted/publisher.txt, which the stack grants.
func TestMain(m *testing.M) { os.Exit(awsopstest.Main(m, "publisher")) }

// TestAWSOperations builds the handler as deployed (EventBridge and Step Functions faked,
// DynamoDB Local) and hands it an outbox insert and the TTL removal of a live time-limited
// session, which the finaliser records as ended and whose countdown it stops.
func TestAWSOperations(t *testing.T) {
	awsopstest.NewFakeAWS(t, "")
	tb := ddbtest.NewTable(t)
	env := map[string]string{"DYNAMODB_ENDPOINT": tb.Endpoint,
		"STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:countdown"}
	h, err := build(context.Background(), settings{table: tb.Name, bus: "sessions-bus"}, func(k string) string { return env[k] },
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	insert := fixture(t, "ddb-stream-insert-event.json")
	removal := fixture(t, "ddb-stream-remove-ttl.json")
	old := removal.Records[0].Change.OldImage
	old["status"] = events.NewStringAttribute("running")
	old["expiration_reason"] = events.NewStringAttribute("")
	old["time_limit_at_ms"] = events.NewNumberAttribute("1771765195000")
	batch := events.DynamoDBEvent{Records: append(insert.Records, removal.Records...)}
	resp, err := h.Handle(context.Background(), batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %v, failures %v", err, resp.BatchItemFailures)
	}
}
