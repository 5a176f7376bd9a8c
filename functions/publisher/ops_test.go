package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/awsops/awsopstest"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/usage"
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
	// A live session charged to a usage budget, as the table holds it, removed by TTL: its
	// end also settles the budget's ledger.
	charged := removal.Records[0]
	charged.Change.OldImage = chargedSessionImage(t, tb)
	charged.Change.SequenceNumber = "4421584500000000017450439099"
	batch := events.DynamoDBEvent{Records: append(append(insert.Records, removal.Records...), charged)}
	resp, err := h.Handle(context.Background(), batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %v, failures %v", err, resp.BatchItemFailures)
	}
}

// chargedSessionImage starts a time-limited session charged to a budget (through the test's
// own, unrecorded client) and returns its item as a stream image.
func chargedSessionImage(t *testing.T, tb *ddbtest.Table) map[string]events.DynamoDBAttributeValue {
	t.Helper()
	ctx := context.Background()
	if _, err := ddbstore.Open(tb.Client, tb.Name).Directory().CreateUser(ctx, policy.User{ID: "u_carol", Username: "carol"}); err != nil {
		t.Fatal(err)
	}
	budget, err := usage.NewBudget("u_carol", usage.Limit{Type: "per_user", Interval: "total", Hours: 10}, usage.Source{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Minute)
	lt := lifecycle.Lifetime{KeepaliveExpiration: time.Hour, Action: lifecycle.ActionDelete, KeepaliveInterval: 30 * time.Second,
		IdleDisconnect: time.Hour, TimeLimit: time.Hour, MaxSessions: 5}
	s, created := lifecycle.NewSession("s_charged", "u_carol", "img", true, lt, start)
	if _, err := ddbstore.Open(tb.Client, tb.Name).Sessions().StartCharged(ctx, s, created, budget); err != nil {
		t.Fatal(err)
	}
	out, err := tb.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tb.Name), Key: map[string]ddbtypes.AttributeValue{
		"PK": &ddbtypes.AttributeValueMemberS{Value: "SESSION#s_charged"}, "SK": &ddbtypes.AttributeValueMemberS{Value: "SESSION"},
	}})
	if err != nil || out.Item == nil {
		t.Fatalf("read the charged session: %v (item %v)", err, out)
	}
	if _, ok := out.Item["budget"].(*ddbtypes.AttributeValueMemberS); !ok {
		t.Fatalf("the session item has no budget: %v", out.Item)
	}
	image := map[string]events.DynamoDBAttributeValue{}
	for k, v := range out.Item {
		image[k] = toEvent(t, v)
	}
	return image
}

func toEvent(t *testing.T, v ddbtypes.AttributeValue) events.DynamoDBAttributeValue {
	switch a := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return events.NewStringAttribute(a.Value)
	case *ddbtypes.AttributeValueMemberN:
		return events.NewNumberAttribute(a.Value)
	case *ddbtypes.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(a.Value)
	case *ddbtypes.AttributeValueMemberNULL:
		return events.NewNullAttribute()
	case *ddbtypes.AttributeValueMemberSS:
		return events.NewStringSetAttribute(a.Value)
	case *ddbtypes.AttributeValueMemberL:
		var l []events.DynamoDBAttributeValue
		for _, x := range a.Value {
			l = append(l, toEvent(t, x))
		}
		return events.NewListAttribute(l)
	case *ddbtypes.AttributeValueMemberM:
		m := map[string]events.DynamoDBAttributeValue{}
		for k, x := range a.Value {
			m[k] = toEvent(t, x)
		}
		return events.NewMapAttribute(m)
	}
	t.Fatalf("attribute type %T: not converted", v)
	return events.DynamoDBAttributeValue{}
}
