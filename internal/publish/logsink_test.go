package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/publish/publishtest"
)

func TestLogSink(t *testing.T) {
	var buf bytes.Buffer
	sink := NewLogSink(slog.New(slog.NewJSONHandler(&buf, nil)))
	evs := []lifecycle.Event{publishtest.WantEvent("s1", 1, "created"), publishtest.WantEvent("s1", 2, "stopped")}
	for i, err := range sink.Publish(context.Background(), evs) {
		if err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("got %d lines, want one per event:\n%s", len(lines), buf.String())
	}
	for i, line := range lines {
		var got struct {
			Msg        string `json:"msg"`
			Source     string `json:"source"`
			DetailType string `json:"detail_type"`
			Detail     Detail `json:"detail"`
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, line)
		}
		want := NewDetail(evs[i])
		if got.Msg != "session event" || got.Source != Source || got.DetailType != string(evs[i].Type) {
			t.Errorf("line %d: got msg %q source %q detail_type %q", i, got.Msg, got.Source, got.DetailType)
		}
		if !reflect.DeepEqual(got.Detail, want) {
			t.Errorf("line %d detail: got %+v, want %+v", i, got.Detail, want)
		}
	}
}
