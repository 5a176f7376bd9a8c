// Package streams is the DynamoDB Streams adapter of package publish, for local runs: a Reader
// that reads a table's stream the way Lambda's event source mapping does and hands each batch,
// in the shape Lambda delivers it, to a publish.Handler.
package streams

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"wspolicy/internal/awsconf"
)

// StreamsAPI is the part of the DynamoDB Streams client the Reader uses.
type StreamsAPI interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// TableDescriber is the part of the DynamoDB client the Reader uses to find the stream.
type TableDescriber interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// HandleFunc handles a batch of stream records the way a Lambda function does; Handler.Handle
// is one.
type HandleFunc func(ctx context.Context, batch events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// Config configures a Reader.
type Config struct {
	// Table is the table whose latest stream is read.
	Table string
	// Tables finds the stream (DescribeTable); Streams reads it.
	Tables  TableDescriber
	Streams StreamsAPI
	// Handle receives each batch, as Lambda's event source mapping would deliver it.
	Handle HandleFunc
	// PollInterval is the pause after a round that brought nothing new or failed (default 1s).
	PollInterval time.Duration
	// BatchSize bounds the records of one batch (default 100, at most 1000).
	BatchSize int32
	// FromStart reads the shards that exist when the reader opens from their oldest record
	// (TRIM_HORIZON) instead of from the moment it opens (LATEST). Shards that appear later are
	// always read from their start.
	FromStart bool
	// Logger receives a line per failure; nil discards.
	Logger *slog.Logger
}

// Reader reads a table's DynamoDB stream the way Lambda's event source mapping does, for
// local runs against DynamoDB Local: shard by shard (a child after its parent), in batches,
// retrying a batch from the earliest record the handler reports as failed.
type Reader struct {
	cfg       Config
	log       *slog.Logger
	streamArn string
	shards    map[string]*shardState
	order     []string // shard ids in the order they were found
}

type shardState struct {
	id, parent string
	start      streamtypes.ShardIteratorType // where reading began, for a lost iterator
	iterator   *string
	lastDone   string // sequence number of the last completed record
	retryAt    string // sequence number to read again from after a failure
	done       bool
}

// NewClient builds a DynamoDB Streams client from the default AWS configuration. A
// non-empty endpoint (DynamoDB Local) overrides the service address and uses awsconf.Load's
// local configuration, as ddbstore.NewClient does.
func NewClient(ctx context.Context, endpoint string) (*dynamodbstreams.Client, error) {
	cfg, err := awsconf.Load(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	return dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// Open finds the table's latest stream and positions the reader on its shards, so
// that every record written after it returns is read (or every record, with FromStart).
func Open(ctx context.Context, cfg Config) (*Reader, error) {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	cfg.BatchSize = min(cfg.BatchSize, 1000)
	r := &Reader{cfg: cfg, log: cfg.Logger, shards: map[string]*shardState{}}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	out, err := cfg.Tables.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(cfg.Table)})
	if err != nil {
		return nil, fmt.Errorf("describe table %s: %w", cfg.Table, err)
	}
	if out.Table == nil || out.Table.LatestStreamArn == nil {
		return nil, fmt.Errorf("table %s has no stream", cfg.Table)
	}
	r.streamArn = *out.Table.LatestStreamArn
	if err := r.discover(ctx, true); err != nil {
		return nil, err
	}
	for _, id := range r.order {
		sh := r.shards[id]
		if sh.done || sh.start != streamtypes.ShardIteratorTypeLatest {
			continue
		}
		// LATEST must be taken now, not at the first poll, or records written in between are lost.
		if err := r.position(ctx, sh); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// StreamArn is the ARN of the stream being read.
func (r *Reader) StreamArn() string { return r.streamArn }

// Run reads until ctx is done, then returns nil. Errors from the stream are logged and the
// round is tried again after the poll interval.
func (r *Reader) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		progressed := r.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := r.cfg.PollInterval
		if progressed {
			wait = 0
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
}

// Poll does one round: it looks for new shards and reads one batch from each readable shard.
// It reports whether any batch was handled completely, i.e. whether another round at once
// may find more.
func (r *Reader) Poll(ctx context.Context) bool {
	if err := r.discover(ctx, false); err != nil {
		r.log.LogAttrs(ctx, slog.LevelWarn, "stream: describe failed", slog.String("error", err.Error()))
	}
	progressed := false
	for _, id := range r.order {
		sh := r.shards[id]
		if sh.done || !r.parentDone(sh) {
			continue
		}
		ok, err := r.readShard(ctx, sh)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			r.log.LogAttrs(ctx, slog.LevelWarn, "stream: read failed",
				slog.String("shard", sh.id), slog.String("error", err.Error()))
			continue
		}
		progressed = progressed || ok
	}
	return progressed
}

func (r *Reader) parentDone(sh *shardState) bool {
	p, known := r.shards[sh.parent]
	return sh.parent == "" || !known || p.done
}

// discover adds the stream's shards not seen before. At open, shards already closed are
// history (skipped unless FromStart) and open ones start at LATEST (TRIM_HORIZON with
// FromStart); shards found later start at TRIM_HORIZON.
func (r *Reader) discover(ctx context.Context, initial bool) error {
	var start *string
	for {
		out, err := r.cfg.Streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{
			StreamArn: aws.String(r.streamArn), ExclusiveStartShardId: start,
		})
		if err != nil {
			return fmt.Errorf("describe stream: %w", err)
		}
		desc := out.StreamDescription
		if desc == nil {
			return nil
		}
		for _, s := range desc.Shards {
			id := aws.ToString(s.ShardId)
			if _, known := r.shards[id]; known || id == "" {
				continue
			}
			sh := &shardState{id: id, parent: aws.ToString(s.ParentShardId), start: streamtypes.ShardIteratorTypeTrimHorizon}
			if initial && !r.cfg.FromStart {
				closed := s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil
				sh.done = closed
				sh.start = streamtypes.ShardIteratorTypeLatest
			}
			r.shards[id] = sh
			r.order = append(r.order, id)
		}
		if desc.LastEvaluatedShardId == nil {
			return nil
		}
		start = desc.LastEvaluatedShardId
	}
}

// position gets a shard iterator: at the record to retry, after the last completed record, or
// where reading began.
func (r *Reader) position(ctx context.Context, sh *shardState) error {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(r.streamArn), ShardId: aws.String(sh.id)}
	switch {
	case sh.retryAt != "":
		in.ShardIteratorType, in.SequenceNumber = streamtypes.ShardIteratorTypeAtSequenceNumber, aws.String(sh.retryAt)
	case sh.lastDone != "":
		in.ShardIteratorType, in.SequenceNumber = streamtypes.ShardIteratorTypeAfterSequenceNumber, aws.String(sh.lastDone)
	default:
		in.ShardIteratorType = sh.start
	}
	out, err := r.cfg.Streams.GetShardIterator(ctx, in)
	if err != nil {
		var notFound *streamtypes.ResourceNotFoundException
		if errors.As(err, &notFound) {
			sh.done = true // the shard aged out of the stream
		}
		return fmt.Errorf("shard iterator %s (%s): %w", sh.id, in.ShardIteratorType, err)
	}
	sh.iterator = out.ShardIterator
	return nil
}

// readShard handles one batch of the shard and reports whether it was handled completely.
func (r *Reader) readShard(ctx context.Context, sh *shardState) (bool, error) {
	if sh.iterator == nil {
		if err := r.position(ctx, sh); err != nil {
			return false, err
		}
	}
	out, err := r.cfg.Streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: sh.iterator, Limit: aws.Int32(r.cfg.BatchSize)})
	if err != nil {
		var expired *streamtypes.ExpiredIteratorException
		var trimmed *streamtypes.TrimmedDataAccessException
		switch {
		case errors.As(err, &expired):
			sh.iterator = nil
		case errors.As(err, &trimmed):
			sh.iterator, sh.lastDone, sh.retryAt = nil, "", ""
			sh.start = streamtypes.ShardIteratorTypeTrimHorizon
		}
		return false, fmt.Errorf("get records %s: %w", sh.id, err)
	}
	if len(out.Records) == 0 {
		sh.iterator = out.NextShardIterator
		sh.done = out.NextShardIterator == nil
		return false, nil
	}
	batch := eventFromStream(r.streamArn, out.Records)
	resp, err := r.cfg.Handle(ctx, batch)
	failAt := -1
	if err != nil {
		failAt = 0
		r.log.LogAttrs(ctx, slog.LevelWarn, "stream: handler failed", slog.String("shard", sh.id), slog.String("error", err.Error()))
	} else {
		failAt = firstFailure(batch, resp)
	}
	if failAt >= 0 {
		// As Lambda does: keep what came before the earliest failure, read again from it.
		if failAt > 0 {
			sh.lastDone = batch.Records[failAt-1].Change.SequenceNumber
		}
		sh.retryAt = batch.Records[failAt].Change.SequenceNumber
		sh.iterator = nil
		return false, nil
	}
	sh.lastDone, sh.retryAt = batch.Records[len(batch.Records)-1].Change.SequenceNumber, ""
	sh.iterator = out.NextShardIterator
	sh.done = out.NextShardIterator == nil
	return true, nil
}

// firstFailure is the index of the earliest record the response names, -1 for none. A name
// that matches no record fails the whole batch, as it does for Lambda.
func firstFailure(batch events.DynamoDBEvent, resp events.DynamoDBEventResponse) int {
	if len(resp.BatchItemFailures) == 0 {
		return -1
	}
	index := make(map[string]int, len(batch.Records))
	for i, rec := range batch.Records {
		index[rec.Change.SequenceNumber] = i
	}
	first := len(batch.Records)
	for _, f := range resp.BatchItemFailures {
		i, ok := index[f.ItemIdentifier]
		if !ok {
			return 0
		}
		first = min(first, i)
	}
	return first
}

// eventFromStream converts records read with the Streams API into the event Lambda delivers.
func eventFromStream(streamArn string, recs []streamtypes.Record) events.DynamoDBEvent {
	ev := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, 0, len(recs))}
	for _, rec := range recs {
		ev.Records = append(ev.Records, recordFromStream(streamArn, rec))
	}
	return ev
}

// recordFromStream converts one record. An image it cannot convert is left out (the handler
// then sees a record it cannot use and reports it); the Streams API only sends the ten
// DynamoDB types, all of which convert.
func recordFromStream(streamArn string, rec streamtypes.Record) events.DynamoDBEventRecord {
	out := events.DynamoDBEventRecord{
		AWSRegion:      aws.ToString(rec.AwsRegion),
		EventID:        aws.ToString(rec.EventID),
		EventName:      string(rec.EventName),
		EventSource:    aws.ToString(rec.EventSource),
		EventVersion:   aws.ToString(rec.EventVersion),
		EventSourceArn: streamArn,
	}
	if rec.UserIdentity != nil {
		out.UserIdentity = &events.DynamoDBUserIdentity{
			Type: aws.ToString(rec.UserIdentity.Type), PrincipalID: aws.ToString(rec.UserIdentity.PrincipalId),
		}
	}
	if d := rec.Dynamodb; d != nil {
		out.Change = events.DynamoDBStreamRecord{
			SequenceNumber: aws.ToString(d.SequenceNumber),
			SizeBytes:      aws.ToInt64(d.SizeBytes),
			StreamViewType: string(d.StreamViewType),
		}
		if d.ApproximateCreationDateTime != nil {
			out.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *d.ApproximateCreationDateTime}
		}
		out.Change.Keys, _ = imageFromStream(d.Keys)
		out.Change.NewImage, _ = imageFromStream(d.NewImage)
		out.Change.OldImage, _ = imageFromStream(d.OldImage)
	}
	return out
}

// imageFromStream converts an image read with the DynamoDB Streams API into the shape Lambda
// delivers, so that the local reader and the Lambda function hand the Handler the same thing.
func imageFromStream(image map[string]streamtypes.AttributeValue) (map[string]events.DynamoDBAttributeValue, error) {
	if image == nil {
		return nil, nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(image))
	for name, av := range image {
		v, err := attrFromStream(av)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

func attrFromStream(av streamtypes.AttributeValue) (events.DynamoDBAttributeValue, error) {
	switch v := av.(type) {
	case *streamtypes.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberNULL:
		return events.NewNullAttribute(), nil
	case *streamtypes.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			c, err := attrFromStream(e)
			if err != nil {
				return events.DynamoDBAttributeValue{}, fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = c
		}
		return events.NewListAttribute(l), nil
	case *streamtypes.AttributeValueMemberM:
		m, err := imageFromStream(v.Value)
		if err != nil {
			return events.DynamoDBAttributeValue{}, err
		}
		if m == nil {
			m = map[string]events.DynamoDBAttributeValue{}
		}
		return events.NewMapAttribute(m), nil
	}
	return events.DynamoDBAttributeValue{}, fmt.Errorf("unsupported attribute value %T", av)
}
