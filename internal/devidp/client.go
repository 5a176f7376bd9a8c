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

// Tokens are the tokens of a sign-in or a renewal.
type Tokens struct {
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
}

// SignIn signs username in the way the console does (authorization code with PKCE, public
// client, no secret) and returns the ID token. redirectURI is where the code is sent; SignIn
// reads it from the redirect without following it.
func SignIn(ctx context.Context, issuer, username, redirectURI string) (string, error) {
	t, err := SignInTokens(ctx, issuer, username, redirectURI)
	return t.IDToken, err
}

// Refresh renews a sign-in the way the console does: the refresh token grant of the public
// client. The answer holds a new ID token (and no new refresh token: the old one stays valid).
func Refresh(ctx context.Context, issuer, refreshToken string) (Tokens, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {ClientID}}
	return tokenRequest(ctx, http.DefaultClient, issuer, form)
}

func tokenRequest(ctx context.Context, client *http.Client, issuer string, form url.Values) (Tokens, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return Tokens{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := client.Do(req)
	if err != nil {
		return Tokens{}, err
	}
	defer res.Body.Close()
	var tr struct {
		Tokens
		Error string `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tr); err != nil || tr.IDToken == "" {
		return Tokens{}, fmt.Errorf("%s grant: status %d %s %v", form.Get("grant_type"), res.StatusCode, tr.Error, err)
	}
	return tr.Tokens, nil
}

// SignInTokens is SignIn returning the refresh token too.
func SignInTokens(ctx context.Context, issuer, username, redirectURI string) (Tokens, error) {
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
		return Tokens{}, err
	}
	res, err := client.Do(req)
	if err != nil {
		return Tokens{}, err
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		return Tokens{}, fmt.Errorf("authorize %s: status %d, location %q", username, res.StatusCode, res.Header.Get("Location"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {ClientID}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	t, err := tokenRequest(ctx, client, issuer, form)
	if err != nil {
		return Tokens{}, fmt.Errorf("sign in %s: %w", username, err)
	}
	return t, nil
}
