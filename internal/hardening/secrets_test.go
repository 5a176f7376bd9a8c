package hardening

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/faultinject"
)

// TestNoSecretInLogsUnderFaults sends requests with the admin key, user keys, revoked and
// malformed keys while DynamoDB fails a third of the attempts, and issues new keys meanwhile:
// the service's log — every line, errors with their full detail included — must never contain
// a key's secret or an Authorization header.
func TestNoSecretInLogsUnderFaults(t *testing.T) {
	s := newStack(t, stackOptions{logAll: true, faults: faultinject.Config{Seed: 21, Default: faultinject.Rule{Rate: 0.3, AfterSend: 0.3, Delay: time.Millisecond}}})
	g := s.createGroup("secrets", 10, nil)
	var users []string
	secrets := []string{adminKey}
	issue := func(u string) (string, string) {
		var k struct {
			KeyID  string `json:"key_id"`
			Secret string `json:"secret"`
		}
		s.must(http.StatusCreated, "POST", "/v1/users/"+u+"/keys", map[string]any{"role": "user"}, &k)
		return k.KeyID, k.Secret
	}
	keys := map[string]string{}
	for i := range 3 {
		u := s.createUser("secrets-user-"+string(rune('a'+i)), g)
		users = append(users, u)
		_, keys[u] = issue(u)
		secrets = append(secrets, keys[u])
	}
	revokedID, revoked := issue(users[0])
	secrets = append(secrets, revoked)
	s.must(http.StatusNoContent, "DELETE", "/v1/users/"+users[0]+"/keys/"+revokedID, nil, nil)

	s.faults.SetEnabled(true)
	for i := range 40 {
		u := users[i%len(users)]
		s.call("GET", "/v1/users/"+u+"/effective-settings", nil, asKey(keys[u]))
		s.call("POST", "/v1/sessions", map[string]any{"image_id": "img"}, asKey(keys[u]))
		s.call("GET", "/v1/users/"+u, nil, asKey(revoked))
		s.call("GET", "/v1/settings", nil, asKey(keys[u]+"x"))
		s.call("GET", "/v1/groups", nil)
		if r := s.call("POST", "/v1/users/"+u+"/keys", map[string]any{"role": "user"}); r.Status == http.StatusCreated {
			var k struct {
				Secret string `json:"secret"`
			}
			r.decode(t, &k)
			secrets = append(secrets, k.Secret)
		}
	}
	s.faults.SetEnabled(false)
	log := s.logs.String()
	if !strings.Contains(log, `"status":503`) {
		t.Fatalf("no request failed with 503: the log holds no error detail to check")
	}
	for _, secret := range secrets {
		if secret != "" && strings.Contains(log, secret) {
			t.Errorf("the log contains a key secret (%d lines)", strings.Count(log, "\n"))
		}
	}
	for _, h := range []string{"Bearer", "Authorization", "authorization"} {
		if strings.Contains(log, h) {
			t.Errorf("the log mentions %q", h)
		}
	}
}
