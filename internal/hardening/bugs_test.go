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
// and that attempt is cancelled by throttling, so ddbstore resubmits the transaction. The
// resubmission must not run the items again: before ddbstore sent one ClientRequestToken with
// every submission of a transaction (46fc2e2), its conditions failed on what the first attempt
// had written and the API answered a 4xx for a request that had succeeded (409
// session_exists, key_exists, group_name_taken, username_taken; 412 for a settings change
// under If-Match). The answer must be the success, or 503.
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

// TestRetriedStartAfterLostResponse: DynamoDB applies a start (or storage-mapping)
// transaction but its answer is lost, and the SDK's retry — same token — is throttled until
// the SDK gives up. The store's own retry loop then builds the transaction again and submits
// it under a new client request token: for a start, its conditions fail on the session the
// first attempt wrote, and POST /v1/sessions answers 409 session_exists although it started
// the session (which now counts against max_kasms_per_user). The answer must be the success,
// or 503.
//
// Fixed in internal/ddbstore/session_store.go (startSession): after an ambiguous attempt, a
// stored session with this request's own id, user, image and creation time is the success
// it is, as storagemapping.go does for mappings. This test guards that.
func TestRetriedStartAfterLostResponse(t *testing.T) {
	s := newStack(t, stackOptions{})
	g := s.createGroup("lost-start", 10, map[string]any{"max_kasms_per_user": 50, "allow_user_storage_mapping": true, "max_user_storage_mappings": 10})
	u := s.createUser("lost-start-user", g)
	tests := []struct {
		name         string
		method, path string
		body         any
		want         int
	}{
		{"start a session", "POST", "/v1/sessions", map[string]any{"user_id": u, "image_id": "img"}, http.StatusCreated},
		{"register a storage mapping", "POST", "/v1/users/" + u + "/storage-mappings",
			map[string]any{"host_path": "/h/{username}", "bind": "/b", "mode": "rw", "uid": 1, "gid": 1}, http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.faults.Plan("DynamoDB.TransactWriteItems",
				faultinject.Planned{Fault: faultinject.Timeout, AfterSend: true, Delay: time.Millisecond},
				faultinject.Planned{Fault: faultinject.Throttle, Code: "ThrottlingException"},
			)
			r := s.call(tc.method, tc.path, tc.body)
			if !slices.Contains([]int{tc.want, http.StatusServiceUnavailable}, r.Status) {
				t.Errorf("%s: want %d, or 503 — the request did succeed", r, tc.want)
			}
		})
	}
	s.checkDirectory()
	s.checkSessions(u)
}
