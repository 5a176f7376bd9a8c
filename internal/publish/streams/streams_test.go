package streams

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/publish"
	"wspolicy/internal/publish/publishtest"
	"wspolicy/internal/syncbuf"
)

// readerFixture is a table on DynamoDB Local with a Reader feeding a Handler that
// publishes to a fake sink.
type readerFixture struct {
	tb   *ddbtest.Table
	sink *publishtest.Sink
	logs *syncbuf.Buffer
}

func newReaderFixture(t *testing.T) *readerFixture {
	t.Helper()
	return &readerFixture{tb: ddbtest.NewStreamTable(t), sink: &publishtest.Sink{Fail: map[string]bool{}, FailTimes: map[string]int{}}, logs: &syncbuf.Buffer{}}
}

// open opens a reader on the fixture's table; start runs it until the test ends.
func (f *readerFixture) open(t *testing.T, fromStart bool) *Reader {
	t.Helper()
	streams, err := NewClient(context.Background(), f.tb.Endpoint)
	if err != nil {
		t.Fatalf("streams client: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(f.logs, nil))
	r, err := Open(context.Background(), Config{
		Table: f.tb.Name, Tables: f.tb.Client, Streams: streams,
		Handle:       publish.NewHandler(f.sink, nil, logger).Handle,
		PollInterval: 50 * time.Millisecond, FromStart: fromStart, Logger: logger,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

func (f *readerFixture) start(t *testing.T, r *Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func (f *readerFixture) put(t *testing.T, item map[string]types.AttributeValue) {
	t.Helper()
	_, err := f.tb.Client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(f.tb.Name), Item: item})
	if err != nil {
		t.Fatalf("put item: %v", err)
	}
}

// waitFor waits until the sink has delivered the events with the given ids.
func (f *readerFixture) waitFor(t *testing.T, ids ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := f.sink.Published()
		seen := map[string]bool{}
		for _, e := range got {
			seen[e.EventID] = true
		}
		all := true
		for _, id := range ids {
			all = all && seen[id]
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events %v not published within 15s; got %v\nlogs:\n%s", ids, eventIDs(got), f.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func eventIDs(evs []lifecycle.Event) []string {
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.EventID)
	}
	return ids
}

func count(evs []lifecycle.Event, id string) int {
	n := 0
	for _, e := range evs {
		if e.EventID == id {
			n++
		}
	}
	return n
}

func TestStreamReader(t *testing.T) {
	tests := []struct {
		name        string
		fromStart   bool
		before      []map[string]types.AttributeValue // written before the reader opens
		after       []map[string]types.AttributeValue // written after
		failTimes   map[string]int
		wantIDs     []string // must all be published
		wantOnce    []string // published exactly once
		wantMissing []string // never published
	}{
		{
			name:     "an event written after open reaches the sink, other items do not",
			after:    []map[string]types.AttributeValue{publishtest.SessionItem("s1"), publishtest.EventItem("s1", 1, "stopped")},
			wantIDs:  []string{"s1:1"},
			wantOnce: []string{"s1:1"},
		},
		{
			name:        "at open the reader starts at the latest record",
			before:      []map[string]types.AttributeValue{publishtest.EventItem("s0", 1, "created")},
			after:       []map[string]types.AttributeValue{publishtest.EventItem("s1", 1, "created")},
			wantIDs:     []string{"s1:1"},
			wantMissing: []string{"s0:1"},
		},
		{
			name:      "FromStart reads what was written before open",
			fromStart: true,
			before:    []map[string]types.AttributeValue{publishtest.EventItem("s0", 1, "created")},
			after:     []map[string]types.AttributeValue{publishtest.EventItem("s1", 1, "created")},
			wantIDs:   []string{"s0:1", "s1:1"},
			wantOnce:  []string{"s0:1", "s1:1"},
		},
		{
			name: "a failed record is read again, nothing before it is",
			after: []map[string]types.AttributeValue{
				publishtest.EventItem("s1", 1, "created"), publishtest.EventItem("s1", 2, "stopped"), publishtest.EventItem("s1", 3, "resumed"),
			},
			failTimes: map[string]int{"s1:2": 2},
			wantIDs:   []string{"s1:1", "s1:2", "s1:3"},
			wantOnce:  []string{"s1:1", "s1:2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newReaderFixture(t)
			for id, n := range tc.failTimes {
				f.sink.FailTimes[id] = n
			}
			for _, item := range tc.before {
				f.put(t, item)
			}
			r := f.open(t, tc.fromStart)
			f.start(t, r)
			for _, item := range tc.after {
				f.put(t, item)
			}
			f.waitFor(t, tc.wantIDs...)
			time.Sleep(200 * time.Millisecond) // room for a wrong extra delivery to show
			got := f.sink.Published()
			for _, id := range tc.wantOnce {
				if n := count(got, id); n != 1 {
					t.Errorf("%s published %d times, want once (all: %v)", id, n, eventIDs(got))
				}
			}
			for _, id := range tc.wantMissing {
				if n := count(got, id); n != 0 {
					t.Errorf("%s published %d times, want never", id, n)
				}
			}
			for _, e := range got {
				want := publishtest.WantEvent(e.SessionID, e.Seq, string(e.Type))
				if !reflect.DeepEqual(e, want) {
					t.Errorf("published %+v\nwant %+v", e, want)
				}
			}
		})
	}
}

// Records read with the Streams API reach the handler in Lambda's shape.
func TestStreamReaderRecordShape(t *testing.T) {
	f := newReaderFixture(t)
	streams, err := NewClient(context.Background(), f.tb.Endpoint)
	if err != nil {
		t.Fatalf("streams client: %v", err)
	}
	var mu sync.Mutex
	var got []events.DynamoDBEventRecord
	r, err := Open(context.Background(), Config{
		Table: f.tb.Name, Tables: f.tb.Client, Streams: streams, PollInterval: 50 * time.Millisecond,
		Handle: func(_ context.Context, b events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, b.Records...)
			return events.DynamoDBEventResponse{}, nil
		},
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	f.start(t, r)
	f.put(t, publishtest.EventItem("s1", 1, "created"))
	_, err = f.tb.Client.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{
		TableName: aws.String(f.tb.Name), Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "SESSION#s1"}, "SK": &types.AttributeValueMemberS{Value: "EVENT#00000001"},
		},
	})
	if err != nil {
		t.Fatalf("delete item: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d records within 15s, want 2", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	ins, rem := got[0], got[1]
	if ins.EventName != "INSERT" || !publish.IsEventInsert(ins) || ins.EventSourceArn != r.StreamArn() || ins.Change.SequenceNumber == "" {
		t.Errorf("insert: got %s event=%v arn=%q seq=%q", ins.EventName, publish.IsEventInsert(ins), ins.EventSourceArn, ins.Change.SequenceNumber)
	}
	item, err := ItemFromImage(ins.Change.NewImage)
	if err != nil {
		t.Fatalf("ItemFromImage: %v", err)
	}
	if !reflect.DeepEqual(item, publishtest.EventItem("s1", 1, "created")) {
		t.Errorf("new image: got %v, want the item written", item)
	}
	if rem.EventName != "REMOVE" || publish.IsTTLDeletion(rem) || len(rem.Change.OldImage) == 0 {
		t.Errorf("remove: got %s ttl=%v old image %d attributes; want a user REMOVE with the old image", rem.EventName, publish.IsTTLDeletion(rem), len(rem.Change.OldImage))
	}
}

func TestFirstFailure(t *testing.T) {
	batch := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		{Change: events.DynamoDBStreamRecord{SequenceNumber: "10"}},
		{Change: events.DynamoDBStreamRecord{SequenceNumber: "11"}},
		{Change: events.DynamoDBStreamRecord{SequenceNumber: "12"}},
	}}
	fail := func(ids ...string) events.DynamoDBEventResponse {
		var r events.DynamoDBEventResponse
		for _, id := range ids {
			r.BatchItemFailures = append(r.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: id})
		}
		return r
	}
	tests := []struct {
		name string
		resp events.DynamoDBEventResponse
		want int
	}{
		{name: "none", resp: fail(), want: -1},
		{name: "one", resp: fail("11"), want: 1},
		{name: "earliest of several", resp: fail("12", "11"), want: 1},
		{name: "unknown identifier fails the batch", resp: fail("12", "99"), want: 0},
		{name: "empty identifier fails the batch", resp: fail(""), want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := firstFailure(batch, tc.resp); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func allTypesStream() map[string]streamtypes.AttributeValue {
	return map[string]streamtypes.AttributeValue{
		"s":    &streamtypes.AttributeValueMemberS{Value: "text"},
		"n":    &streamtypes.AttributeValueMemberN{Value: "-12.5"},
		"b":    &streamtypes.AttributeValueMemberB{Value: []byte{0, 1, 42, 65}},
		"t":    &streamtypes.AttributeValueMemberBOOL{Value: true},
		"null": &streamtypes.AttributeValueMemberNULL{Value: true},
		"ss":   &streamtypes.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns":   &streamtypes.AttributeValueMemberNS{Value: []string{"1", "2"}},
		"bs":   &streamtypes.AttributeValueMemberBS{Value: [][]byte{{0, 1, 42, 65}, {65, 42, 1, 0}}},
		"l": &streamtypes.AttributeValueMemberL{Value: []streamtypes.AttributeValue{
			&streamtypes.AttributeValueMemberS{Value: "x"}, &streamtypes.AttributeValueMemberN{Value: "1"},
			&streamtypes.AttributeValueMemberL{Value: []streamtypes.AttributeValue{}},
		}},
		"m": &streamtypes.AttributeValueMemberM{Value: map[string]streamtypes.AttributeValue{
			"inner": &streamtypes.AttributeValueMemberM{Value: map[string]streamtypes.AttributeValue{
				"deep": &streamtypes.AttributeValueMemberBOOL{Value: false},
			}},
			"empty": &streamtypes.AttributeValueMemberM{Value: map[string]streamtypes.AttributeValue{}},
		}},
	}
}

// TestImageFromStream: an image read with the Streams API converts, through the shape Lambda
// delivers, into the item that was written, whatever its types.
func TestImageFromStream(t *testing.T) {
	img, err := imageFromStream(allTypesStream())
	if err != nil {
		t.Fatalf("imageFromStream: %v", err)
	}
	got, err := ItemFromImage(img)
	if err != nil {
		t.Fatalf("ItemFromImage: %v", err)
	}
	if want := allTypesItem(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

func TestImageFromStreamUnsupported(t *testing.T) {
	_, err := imageFromStream(map[string]streamtypes.AttributeValue{"x": &streamtypes.UnknownUnionMember{Tag: "Q"}})
	if err == nil {
		t.Errorf("got no error for an unknown union member, want one")
	}
}
