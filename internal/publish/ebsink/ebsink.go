// Package ebsink is the EventBridge adapter of package publish: a publish.Sink that puts each
// session event on an event bus.
package ebsink

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/publish"
)

// EventBridge's PutEvents limits.
const (
	// MaxEntries is the most entries one PutEvents call takes.
	MaxEntries = 10
	// MaxRequestBytes is the most one PutEvents call may carry, counted as EventBridge counts.
	MaxRequestBytes = 256 * 1024
)

// PutEventsAPI is the part of the EventBridge client the sink uses.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Sink publishes each event as one entry on an event bus: source publish.Source, detail-type
// the event type, detail the event's Detail document, time the event's time.
type Sink struct {
	client PutEventsAPI
	bus    string
}

// New returns a sink putting events on the named bus.
func New(client PutEventsAPI, busName string) *Sink {
	return &Sink{client: client, bus: busName}
}

// Entry builds the PutEvents entry of e.
func (s *Sink) Entry(e lifecycle.Event) (ebtypes.PutEventsRequestEntry, error) {
	detail, err := publish.MarshalDetail(e)
	if err != nil {
		return ebtypes.PutEventsRequestEntry{}, err
	}
	return ebtypes.PutEventsRequestEntry{
		EventBusName: aws.String(s.bus),
		Source:       aws.String(publish.Source),
		DetailType:   aws.String(string(e.Type)),
		Detail:       aws.String(string(detail)),
		Time:         aws.Time(e.At.UTC()),
	}, nil
}

// Publish sends the events in calls of at most MaxEntries entries and MaxRequestBytes. A call
// that fails fails all of its entries; otherwise each entry succeeds or fails on its own.
func (s *Sink) Publish(ctx context.Context, evs []lifecycle.Event) []error {
	errs := make([]error, len(evs))
	var (
		batch   []ebtypes.PutEventsRequestEntry
		indexes []int
		size    int
	)
	flush := func() {
		if len(batch) > 0 {
			s.put(ctx, batch, indexes, evs, errs)
		}
		batch, indexes, size = nil, nil, 0
	}
	for i, e := range evs {
		entry, err := s.Entry(e)
		if err != nil {
			errs[i] = err
			continue
		}
		n := EntrySize(entry)
		if n > MaxRequestBytes {
			errs[i] = fmt.Errorf("event %s: entry of %d bytes exceeds EventBridge's %d", e.EventID, n, MaxRequestBytes)
			continue
		}
		if len(batch) == MaxEntries || size+n > MaxRequestBytes {
			flush()
		}
		batch, indexes, size = append(batch, entry), append(indexes, i), size+n
	}
	flush()
	return errs
}

func (s *Sink) put(ctx context.Context, batch []ebtypes.PutEventsRequestEntry, indexes []int, evs []lifecycle.Event, errs []error) {
	out, err := s.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: batch})
	if err != nil {
		for _, i := range indexes {
			errs[i] = fmt.Errorf("put event %s: %w", evs[i].EventID, err)
		}
		return
	}
	if len(out.Entries) != len(batch) {
		if out.FailedEntryCount == 0 {
			return
		}
		for _, i := range indexes {
			errs[i] = fmt.Errorf("put event %s: %d of %d entries failed and the answer does not say which",
				evs[i].EventID, out.FailedEntryCount, len(batch))
		}
		return
	}
	for j, res := range out.Entries {
		if res.ErrorCode != nil || res.EventId == nil {
			errs[indexes[j]] = fmt.Errorf("put event %s: %s: %s",
				evs[indexes[j]].EventID, aws.ToString(res.ErrorCode), aws.ToString(res.ErrorMessage))
		}
	}
}

// EntrySize is the size EventBridge counts for an entry against its request limit: the UTF-8
// bytes of source, detail-type, detail and resources, plus 14 for a time.
func EntrySize(e ebtypes.PutEventsRequestEntry) int {
	n := len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
	if e.Time != nil {
		n += 14
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}
