package faultinject_test

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/faultinject"
)

// retryer makes at most n attempts with a short backoff.
func retryer(n int) func() aws.Retryer {
	return func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = n
			o.MaxBackoff = 5 * time.Millisecond
		})
	}
}

// faultyTable is a DynamoDB Local table and a client on it with in added.
func faultyTable(t *testing.T, in *faultinject.Injector, attempts int) (*dynamodb.Client, string) {
	t.Helper()
	tb := ddbtest.NewTable(t)
	db, err := ddbkit.NewClient(context.Background(), tb.Endpoint, in.DynamoDB, func(o *dynamodb.Options) {
		o.Retryer = retryer(attempts)()
	})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return db, tb.Name
}

func item(pk string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		"PK": &ddbtypes.AttributeValueMemberS{Value: pk},
		"SK": &ddbtypes.AttributeValueMemberS{Value: "X"},
	}
}

func exists(t *testing.T, db *dynamodb.Client, table, pk string) bool {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &table, Key: item(pk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("get %s: %v", pk, err)
	}
	return out.Item != nil
}

func TestDynamoDBFaults(t *testing.T) {
	tests := []struct {
		name       string
		rule       faultinject.Rule
		tx         bool
		wantErr    func(error) bool
		wantStatus int // HTTP status the SDK saw; 0: no response
		wantWrite  bool
	}{
		{
			name: "throttle is a typed throttling error with status 400",
			rule: faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.Throttle}},
			wantErr: func(err error) bool {
				var a *ddbtypes.ThrottlingException
				var b *ddbtypes.ProvisionedThroughputExceededException
				return errors.As(err, &a) || errors.As(err, &b)
			},
			wantStatus: 400,
		},
		{
			name: "throttled transaction is throttling or a transaction cancelled by ThrottlingError",
			rule: faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.Throttle}},
			tx:   true,
			wantErr: func(err error) bool {
				var a *ddbtypes.ThrottlingException
				var b *ddbtypes.ProvisionedThroughputExceededException
				var c *ddbtypes.TransactionCanceledException
				if errors.As(err, &c) {
					return len(c.CancellationReasons) == 2 && aws.ToString(c.CancellationReasons[0].Code) == "ThrottlingError" &&
						aws.ToString(c.CancellationReasons[1].Code) == "None"
				}
				return errors.As(err, &a) || errors.As(err, &b)
			},
			wantStatus: 400,
		},
		{
			name: "server error is InternalServerError with status 500",
			rule: faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.ServerError}},
			wantErr: func(err error) bool {
				var a *ddbtypes.InternalServerError
				return errors.As(err, &a)
			},
			wantStatus: 500,
		},
		{
			name: "timeout before send is a network timeout and writes nothing",
			rule: faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.Timeout}, Delay: time.Millisecond},
			wantErr: func(err error) bool {
				var ne net.Error
				return errors.As(err, &ne) && ne.Timeout()
			},
		},
		{
			name: "timeout after send is a network timeout but the write happened",
			rule: faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.Timeout}, AfterSend: 1, Delay: time.Millisecond},
			wantErr: func(err error) bool {
				var ne net.Error
				return errors.As(err, &ne) && ne.Timeout()
			},
			wantWrite: true,
		},
		{
			name: "reset before send is a connection error and writes nothing",
			rule: faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.Reset}},
			wantErr: func(err error) bool {
				var ce interface{ ConnectionError() bool }
				return errors.As(err, &ce) && ce.ConnectionError() && errors.Is(err, syscall.ECONNRESET)
			},
		},
		{
			name: "reset after send is a connection error but the write happened",
			rule: faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.Reset}, AfterSend: 1},
			wantErr: func(err error) bool {
				return errors.Is(err, syscall.ECONNRESET)
			},
			wantWrite: true,
		},
		{
			name:      "slow succeeds",
			rule:      faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.Slow}, Delay: 30 * time.Millisecond},
			wantWrite: true,
		},
		{
			name:      "rate zero passes",
			rule:      faultinject.Rule{Rate: 0},
			wantWrite: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := faultinject.New(faultinject.Config{Seed: 1, Default: tc.rule})
			const attempts = 2
			db, table := faultyTable(t, in, attempts)
			ctx := context.Background()
			start := time.Now()
			var err error
			if tc.tx {
				_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
					{Put: &ddbtypes.Put{TableName: &table, Item: item("A")}},
					{Put: &ddbtypes.Put{TableName: &table, Item: item("B")}},
				}})
			} else {
				_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item("A")})
			}
			elapsed := time.Since(start)
			in.SetEnabled(false)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
			} else if err == nil || !tc.wantErr(err) {
				t.Fatalf("got error %v (%T), want the injected fault", err, err)
			}
			if tc.wantStatus != 0 {
				var re *awshttp.ResponseError
				if !errors.As(err, &re) || re.HTTPStatusCode() != tc.wantStatus {
					t.Errorf("got %v, want an HTTP response error with status %d", err, tc.wantStatus)
				}
			}
			if got := exists(t, db, table, "A"); got != tc.wantWrite {
				t.Errorf("item written: got %v, want %v", got, tc.wantWrite)
			}
			stats := in.Stats()
			op := "DynamoDB.PutItem"
			if tc.tx {
				op = "DynamoDB.TransactWriteItems"
			}
			wantAttempts := int64(1)
			var retriedCancel *ddbtypes.TransactionCanceledException
			if err != nil && !errors.As(err, &retriedCancel) {
				wantAttempts = attempts // the SDK retries every injected fault but a cancelled transaction
			}
			if got := stats.Attempts[op]; got != wantAttempts {
				t.Errorf("attempts of %s: got %d, want %d", op, got, wantAttempts)
			}
			wantInjected := int64(0)
			if tc.rule.Rate > 0 {
				wantInjected = wantAttempts
			}
			if got := stats.Total(""); got != wantInjected {
				t.Errorf("injected: got %d, want %d\n%s", got, wantInjected, stats)
			}
			if tc.rule.Delay > 0 && elapsed < tc.rule.Delay {
				t.Errorf("took %v, want at least the delay %v", elapsed, tc.rule.Delay)
			}
		})
	}
}

// TestTimeoutHonoursContext: a timeout fault longer than the caller's deadline ends with the
// caller's context error.
func TestTimeoutHonoursContext(t *testing.T) {
	in := faultinject.New(faultinject.Config{Default: faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.Timeout}, Delay: time.Minute}})
	db, table := faultyTable(t, in, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item("A")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
}

// TestPerOperationRules: an operation's own rule wins over the default, and a service-qualified
// key over a bare operation name.
func TestPerOperationRules(t *testing.T) {
	in := faultinject.New(faultinject.Config{
		Default: faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.ServerError}},
		Operations: map[string]faultinject.Rule{
			"GetItem":          {Rate: 1, Faults: []faultinject.Fault{faultinject.ServerError}},
			"DynamoDB.GetItem": {Rate: 0},
		},
	})
	db, table := faultyTable(t, in, 1)
	ctx := context.Background()
	if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: item("A")}); err != nil {
		t.Errorf("GetItem: got %v, want no fault", err)
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item("A")}); err == nil {
		t.Errorf("PutItem: got no error, want the default rule's fault")
	}
}

// TestSeeded: the same seed injects the same faults in the same order.
func TestSeeded(t *testing.T) {
	run := func() []bool {
		in := faultinject.New(faultinject.Config{Seed: 42, Default: faultinject.Rule{Rate: 0.5, Faults: []faultinject.Fault{faultinject.ServerError}}})
		db, table := faultyTable(t, in, 1)
		var got []bool
		for range 20 {
			_, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &table, Item: item("A")})
			got = append(got, err != nil)
		}
		return got
	}
	a, b := run(), run()
	faults := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("run 1 %v, run 2 %v: want the same faults", a, b)
		}
		if a[i] {
			faults++
		}
	}
	if faults == 0 || faults == len(a) {
		t.Errorf("got %d faults of %d at rate 0.5", faults, len(a))
	}
}

func eventBridge(t *testing.T, in *faultinject.Injector, attempts int) (*eventbridge.Client, *faultinject.EventBus) {
	t.Helper()
	bus := faultinject.NewEventBus()
	srv := httptest.NewServer(bus)
	t.Cleanup(srv.Close)
	c := eventbridge.New(eventbridge.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		Retryer:      retryer(attempts)(),
	}, in.EventBridge)
	return c, bus
}

func entries(n int) []ebtypes.PutEventsRequestEntry {
	out := make([]ebtypes.PutEventsRequestEntry, n)
	for i := range out {
		out[i] = ebtypes.PutEventsRequestEntry{Source: aws.String("test"), DetailType: aws.String("t"), Detail: aws.String(`{"i":` + string(rune('0'+i)) + `}`)}
	}
	return out
}

func TestEventBridgeFaults(t *testing.T) {
	tests := []struct {
		name    string
		rule    faultinject.Rule
		wantErr func(error) bool
	}{
		{"throttle", faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.Throttle}}, func(err error) bool {
			var e *ebtypes.ThrottlingException
			return errors.As(err, &e)
		}},
		{"server error", faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.ServerError}}, func(err error) bool {
			var e *ebtypes.InternalException
			return errors.As(err, &e)
		}},
		{"timeout", faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.Timeout}, Delay: time.Millisecond}, func(err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := faultinject.New(faultinject.Config{Default: tc.rule})
			c, bus := eventBridge(t, in, 2)
			_, err := c.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: entries(3)})
			if err == nil || !tc.wantErr(err) {
				t.Fatalf("got %v (%T), want the injected fault", err, err)
			}
			if got := len(bus.Entries()); got != 0 {
				t.Errorf("bus received %d entries, want 0", got)
			}
			if got := in.Stats().Attempts["EventBridge.PutEvents"]; got != 2 {
				t.Errorf("attempts: got %d, want 2 (retried once)", got)
			}
		})
	}
}

// TestPartialFailure: failed entries are reported per entry and never reach the bus; the
// others do.
func TestPartialFailure(t *testing.T) {
	in := faultinject.New(faultinject.Config{Seed: 7, Operations: map[string]faultinject.Rule{
		"PutEvents": {Rate: 0.5, Faults: []faultinject.Fault{faultinject.PartialFailure}},
	}})
	c, bus := eventBridge(t, in, 1)
	out, err := c.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: entries(10)})
	if err != nil {
		t.Fatalf("PutEvents: %v", err)
	}
	if len(out.Entries) != 10 {
		t.Fatalf("got %d result entries, want 10", len(out.Entries))
	}
	failed := 0
	for _, e := range out.Entries {
		if e.ErrorCode != nil {
			failed++
		} else if e.EventId == nil {
			t.Errorf("an entry neither failed nor has an event id: %+v", e)
		}
	}
	if int(out.FailedEntryCount) != failed || failed == 0 || failed == 10 {
		t.Errorf("FailedEntryCount %d, failed entries %d: want equal and between 1 and 9", out.FailedEntryCount, failed)
	}
	if got := len(bus.Entries()); got != 10-failed {
		t.Errorf("bus received %d entries, want %d", got, 10-failed)
	}
	if got := in.Stats().Injected["EventBridge.PutEvents"][faultinject.PartialFailure]; got != int64(failed) {
		t.Errorf("counted %d partial failures, want %d", got, failed)
	}
}

// TestPlan: planned faults come in order, before drawn ones, even with injection disabled.
func TestPlan(t *testing.T) {
	in := faultinject.New(faultinject.Config{})
	in.SetEnabled(false)
	db, table := faultyTable(t, in, 1)
	in.Plan("DynamoDB.TransactWriteItems",
		faultinject.Planned{Fault: faultinject.Timeout, AfterSend: true, Delay: time.Millisecond},
		faultinject.Planned{Fault: faultinject.Throttle, Code: "TransactionCanceledException"},
	)
	put := func(pk string) error {
		_, err := db.TransactWriteItems(context.Background(), &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
			{Put: &ddbtypes.Put{TableName: &table, Item: item(pk)}},
		}})
		return err
	}
	var ne net.Error
	if err := put("A"); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("first call: got %v, want the planned timeout", err)
	}
	if !exists(t, db, table, "A") {
		t.Errorf("the timeout after send lost the write")
	}
	var tc *ddbtypes.TransactionCanceledException
	if err := put("B"); !errors.As(err, &tc) || aws.ToString(tc.CancellationReasons[0].Code) != "ThrottlingError" {
		t.Errorf("second call: got %v, want a transaction cancelled by throttling", err)
	}
	if err := put("C"); err != nil {
		t.Errorf("third call: got %v, want no fault left", err)
	}
}
