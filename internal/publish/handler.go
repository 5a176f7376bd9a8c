package publish

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/metrics"
)

// Handler handles one batch of stream records: it publishes the batch's new outbox events
// through a Sink, hands TTL deletions to a Finaliser, ignores everything else, and reports every
// record it could not complete as a batch item failure.
type Handler struct {
	sink      Sink
	finaliser Finaliser
	log       *slog.Logger
}

// NewHandler returns a Handler publishing to sink. A nil finaliser ignores TTL deletions; a nil
// logger discards the handler's log lines.
func NewHandler(sink Sink, finaliser Finaliser, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Handler{sink: sink, finaliser: finaliser, log: logger}
}

// Handle processes a batch in the shape Lambda delivers it (the local streams.Reader builds the
// same). The response names, by sequence number and in record order, each record that failed:
// an event the sink did not take, an outbox item that could not be decoded, a finaliser error.
// The stream then retries from the earliest of them, so records after it may be handed over
// again; consumers deduplicate on event_id. Handle itself never returns an error.
func (h *Handler) Handle(ctx context.Context, batch events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	failed := make([]error, len(batch.Records))
	var (
		evs       []lifecycle.Event
		evRecords []int // index in batch.Records of evs[i]
		finalised int
		ignored   int
	)
	for i, r := range batch.Records {
		switch {
		case IsEventInsert(r):
			e, err := eventFromRecord(r)
			if err != nil {
				failed[i] = err
				continue
			}
			evs = append(evs, e)
			evRecords = append(evRecords, i)
		case IsTTLDeletion(r) && h.finaliser != nil:
			if err := h.finalise(ctx, r); err != nil {
				failed[i] = err
				continue
			}
			finalised++
		default:
			ignored++
		}
	}
	published := 0
	if len(evs) > 0 {
		errs := h.sink.Publish(ctx, evs)
		for j, i := range evRecords {
			var err error
			if j < len(errs) {
				err = errs[j]
			} else {
				err = fmt.Errorf("event %s: the sink reported nothing", evs[j].EventID)
			}
			if err != nil {
				failed[i] = err
				continue
			}
			published++
			countEvent(evs[j])
		}
	}
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	for i, err := range failed {
		if err == nil {
			continue
		}
		seq := batch.Records[i].Change.SequenceNumber
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seq})
		h.log.LogAttrs(ctx, slog.LevelWarn, "stream record failed",
			slog.String("sequence_number", seq), slog.String("event_name", batch.Records[i].EventName),
			slog.String("error", err.Error()))
	}
	if n := len(resp.BatchItemFailures); n > 0 {
		metrics.Count(metrics.PublishFailures, float64(n))
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "stream batch",
		slog.Int("records", len(batch.Records)), slog.Int("events", len(evs)),
		slog.Int("published", published), slog.Int("finalised", finalised),
		slog.Int("ignored", ignored), slog.Int("failed", len(resp.BatchItemFailures)))
	return resp, nil
}

// countEvent counts a published session start or end (by its reason) in the metrics.
func countEvent(e lifecycle.Event) {
	switch e.Type {
	case lifecycle.EventCreated:
		metrics.Count(metrics.SessionsStarted, 1)
	case lifecycle.EventDeleted:
		reason := e.Reason
		if reason == "" {
			reason = "unspecified"
		}
		metrics.Count(metrics.SessionsEnded, 1, metrics.Dim{Name: metrics.DimReason, Value: reason})
	}
}

func eventFromRecord(r events.DynamoDBEventRecord) (lifecycle.Event, error) {
	e, err := EventFromImage(r.Change.NewImage)
	if err != nil {
		return lifecycle.Event{}, fmt.Errorf("decode event item: %w", err)
	}
	return e, nil
}

func (h *Handler) finalise(ctx context.Context, r events.DynamoDBEventRecord) error {
	old := r.Change.OldImage
	if old == nil {
		// A stream without old images cannot feed the backstop; retrying would not help.
		h.log.LogAttrs(ctx, slog.LevelWarn, "ttl deletion without old image",
			slog.String("sequence_number", r.Change.SequenceNumber))
		return nil
	}
	if err := h.finaliser.FinaliseExpired(ctx, old); err != nil {
		return fmt.Errorf("finalise expired item: %w", err)
	}
	return nil
}
