package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestSnapshotTotals(t *testing.T) {
	r := New()
	r.Observe(Keepalives, UnitCount, 1)
	r.Observe(Keepalives, UnitCount, 1)
	r.Observe(SessionsEnded, UnitCount, 1, Dim{DimReason, "keepalive_expired"})
	r.Observe(ExpiryLag, UnitMilliseconds, 300)
	r.Observe(ExpiryLag, UnitMilliseconds, 100)
	if err := r.WriteEMF(&bytes.Buffer{}, "NS", "fn", time.Now()); err != nil {
		t.Fatal(err)
	}
	s := r.Snapshot(time.Now())
	got := map[string]Figure{}
	for _, f := range s.Metrics {
		got[f.Name+f.Dimensions[DimReason]] = f
	}
	if f := got[Keepalives]; f.Sum != 2 || f.Count != 2 {
		t.Errorf("keepalives after a flush: %+v, want sum 2 (totals survive flushes)", f)
	}
	if f := got[SessionsEnded+"keepalive_expired"]; f.Sum != 1 {
		t.Errorf("ends by reason: %+v", f)
	}
	if f := got[ExpiryLag]; f.Count != 2 || f.Min != 100 || f.Max != 300 || f.Sum != 400 {
		t.Errorf("expiry lag: %+v, want count 2, min 100, max 300, sum 400", f)
	}
}

func TestWriteEMF(t *testing.T) {
	r := New()
	r.Observe(Keepalives, UnitCount, 1)
	r.Observe(Keepalives, UnitCount, 1)
	r.Observe(CountdownDrift, UnitMilliseconds, 250, Dim{DimAction, "expire"})
	for i := range 150 {
		r.Observe(ExpiryLag, UnitMilliseconds, float64(i))
	}
	var out bytes.Buffer
	now := time.UnixMilli(1_700_000_000_000)
	if err := r.WriteEMF(&out, "WsPolicy", "sweeper", now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// No dimension: keepalives + the first 100 lags, then the other 50; Action=expire: drift.
	if len(lines) != 3 {
		t.Fatalf("got %d EMF lines, want 3:\n%s", len(lines), out.String())
	}
	var first struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Function   string    `json:"function"`
		Keepalives float64   `json:"Keepalives"`
		ExpiryLag  []float64 `json:"ExpiryLag"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	cw := first.AWS.CloudWatchMetrics
	if first.AWS.Timestamp != now.UnixMilli() || len(cw) != 1 || cw[0].Namespace != "WsPolicy" || len(cw[0].Dimensions) != 1 || len(cw[0].Dimensions[0]) != 0 {
		t.Errorf("metadata: %+v", first.AWS)
	}
	if first.Function != "sweeper" || first.Keepalives != 2 || len(first.ExpiryLag) != 100 {
		t.Errorf("values: function %q keepalives %v lags %d", first.Function, first.Keepalives, len(first.ExpiryLag))
	}
	if !strings.Contains(lines[1], `"ExpiryLag":[100,`) || strings.Contains(lines[1], "Keepalives") {
		t.Errorf("second line: %s", lines[1])
	}
	if !strings.Contains(lines[2], `"Action":"expire"`) || !strings.Contains(lines[2], `"Dimensions":[["Action"]]`) || !strings.Contains(lines[2], `"CountdownDrift":[250]`) {
		t.Errorf("dimension line: %s", lines[2])
	}
	out.Reset()
	if err := r.WriteEMF(&out, "WsPolicy", "sweeper", now); err != nil || out.Len() != 0 {
		t.Errorf("a second flush with nothing pending wrote %q (%v)", out.String(), err)
	}
}

func TestFlushAfter(t *testing.T) {
	var out bytes.Buffer
	h := FlushAfter(func(ctx context.Context, n int) (int, error) {
		Count(PublishFailures, float64(n))
		return n * 2, nil
	}, &out, "publisher")
	got, err := h(context.Background(), 3)
	if err != nil || got != 6 {
		t.Fatalf("got %d, %v", got, err)
	}
	if !strings.Contains(out.String(), `"PublishFailures":3`) || !strings.Contains(out.String(), `"function":"publisher"`) {
		t.Errorf("EMF after the invocation: %s", out.String())
	}
}
