package hardening

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"wspolicy/internal/faultinject"
	"wspolicy/internal/policy"
)

// TestResubmittedTransactionAfterLostResponse: DynamoDB applies a transaction but its answer
// is lost (a timeout after the write); the SDK retries with the same client request token,
// and that attempt is cancelled by throttling. ddbstore's transactWrite then resubmits the
// transaction as a new request — with a new token — so DynamoDB runs it again, its conditions
// fail on what the first attempt wrote, and the API answers a 4xx for a request that
// succeeded (409 session_exists, key_exists, group_name_taken, username_taken; 412 for a
// settings change under If-Match).
//
// The fix (internal/ddbstore/store.go, not this package's to edit): give each txWrites one
// ClientRequestToken and send it with every resubmission of the same items. DynamoDB (and
// DynamoDB Local, checked) then answers a resubmission of an applied transaction with success
// and runs one that was cancelled. Until then this test fails.
func TestResubmittedTransactionAfterLostResponse(t *testing.T) {
	s := newStack(t, stackOptions{})
	g := s.createGroup("lost-response", 10, map[string]any{"max_kasms_per_user": 50})
	u := s.createUser("lost-response-user", g)
	var grp policy.Group
	s.must(http.StatusOK, "GET", "/v1/groups/"+g, nil, &grp)
	tests := []struct {
		name         string
		method, path string
		body         any
		opts         []reqOpt
		want         int
	}{
		{"start a session", "POST", "/v1/sessions", map[string]any{"user_id": u, "image_id": "img"}, nil, http.StatusCreated},
		{"issue a key", "POST", "/v1/users/" + u + "/keys", map[string]any{"role": "user"}, nil, http.StatusCreated},
		{"create a group", "POST", "/v1/groups", map[string]any{"name": "lost-response-2"}, nil, http.StatusCreated},
		{"create a user", "POST", "/v1/users", map[string]any{"username": "lost-response-user-2"}, nil, http.StatusCreated},
		{"change settings under If-Match", "PATCH", "/v1/groups/" + g + "/settings",
			map[string]any{"set": map[string]any{"keepalive_interval": 77}}, []reqOpt{ifMatch(grp.Version)}, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.faults.Plan("DynamoDB.TransactWriteItems",
				faultinject.Planned{Fault: faultinject.Timeout, AfterSend: true, Delay: time.Millisecond},
				faultinject.Planned{Fault: faultinject.Throttle, Code: "TransactionCanceledException"},
			)
			r := s.call(tc.method, tc.path, tc.body, tc.opts...)
			if !slices.Contains([]int{tc.want, http.StatusServiceUnavailable}, r.Status) {
				t.Errorf("%s: want %d, or 503 — the request did succeed", r, tc.want)
			}
		})
	}
	s.checkDirectory()
	s.checkSessions(u)
}
