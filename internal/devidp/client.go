package devidp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// SignIn signs username in the way the console does (authorization code with PKCE, public
// client, no secret) and returns the ID token. redirectURI is where the code is sent; SignIn
// reads it from the redirect without following it.
func SignIn(ctx context.Context, issuer, username, redirectURI string) (string, error) {
	vb := make([]byte, 32)
	_, _ = rand.Read(vb)
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {ClientID}, "response_type": {"code"}, "scope": {"openid profile email groups"},
		"redirect_uri": {redirectURI}, "state": {"s"}, "nonce": {"n"}, "login": {username},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/authorize?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	res, err := client.Do(req)
	if err != nil {
		return "", err
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		return "", fmt.Errorf("authorize %s: status %d, location %q", username, res.StatusCode, res.Header.Get("Location"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {ClientID}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err = client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var tr struct {
		IDToken string `json:"id_token"`
		Error   string `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tr); err != nil || tr.IDToken == "" {
		return "", fmt.Errorf("token for %s: status %d %s %v", username, res.StatusCode, tr.Error, err)
	}
	return tr.IDToken, nil
}
