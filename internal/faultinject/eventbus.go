package faultinject

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
)

// EventBus is a stand-in EventBridge endpoint for tests: an http.Handler that answers
// PutEvents (JSON 1.1 protocol) by accepting every entry and recording it. Point an
// EventBridge client's BaseEndpoint at it (httptest.NewServer).
type EventBus struct {
	mu      sync.Mutex
	entries []BusEntry
	calls   int
}

// BusEntry is one entry the bus accepted.
type BusEntry struct {
	EventID    string `json:"-"`
	Source     string `json:"Source"`
	DetailType string `json:"DetailType"`
	Detail     string `json:"Detail"`
	BusName    string `json:"EventBusName"`
}

// NewEventBus returns an empty bus.
func NewEventBus() *EventBus { return &EventBus{} }

// ServeHTTP answers PutEvents; any other operation is a 400.
func (b *EventBus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":"only PutEvents"}`)
		return
	}
	var in struct {
		Entries []BusEntry `json:"Entries"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"__type":"ValidationException","message":%q}`, err.Error())
		return
	}
	type result struct {
		EventID string `json:"EventId"`
	}
	out := struct {
		FailedEntryCount int      `json:"FailedEntryCount"`
		Entries          []result `json:"Entries"`
	}{Entries: []result{}}
	b.mu.Lock()
	b.calls++
	for _, e := range in.Entries {
		e.EventID = fmt.Sprintf("bus-%d", len(b.entries)+1)
		b.entries = append(b.entries, e)
		out.Entries = append(out.Entries, result{EventID: e.EventID})
	}
	b.mu.Unlock()
	_ = json.NewEncoder(w).Encode(out)
}

// Entries returns a copy of the accepted entries, in arrival order.
func (b *EventBus) Entries() []BusEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BusEntry(nil), b.entries...)
}

// Calls is the number of PutEvents requests the bus answered.
func (b *EventBus) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}
