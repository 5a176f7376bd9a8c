package publish

import (
	"context"
	"encoding/json"
	"log/slog"

	"wspolicy/internal/lifecycle"
)

// LogSink writes each event as one log line, for local runs: message "session event", with
// source, detail_type and the Detail document as "detail". With a JSON handler each event is one
// JSON line a consumer can read.
type LogSink struct {
	log *slog.Logger
}

// NewLogSink returns a sink writing to logger.
func NewLogSink(logger *slog.Logger) *LogSink { return &LogSink{log: logger} }

// Publish logs every event; it fails only for an event that cannot be encoded.
func (s *LogSink) Publish(ctx context.Context, evs []lifecycle.Event) []error {
	errs := make([]error, len(evs))
	for i, e := range evs {
		detail, err := MarshalDetail(e)
		if err != nil {
			errs[i] = err
			continue
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "session event",
			slog.String("source", Source), slog.String("detail_type", string(e.Type)),
			slog.Any("detail", json.RawMessage(detail)))
	}
	return errs
}
