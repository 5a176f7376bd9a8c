package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"time"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/devidp"
	"wspolicy/internal/policy"
	"wspolicy/internal/sso"
)

// DefaultIdPPort is the port of the development OpenID Provider (DEV_IDP_PORT; "off" runs
// none).
const DefaultIdPPort = "8081"

// seededGroupName is the group the seeded IdP group eng-all maps to, with a usage limit.
const seededGroupName = "Engineering"

// startDevIdP starts the development OpenID Provider on 127.0.0.1:port and returns the OIDC
// configuration of the API that trusts it. It seeds the group Engineering (a weekly usage
// limit of 10 hours) mapped to the IdP group eng-all, once.
func startDevIdP(ctx context.Context, port string, ttl time.Duration, store *ddbstore.Store, clock policy.Clock, logger *slog.Logger) (sso.Config, Component, error) {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return sso.Config{}, Component{}, fmt.Errorf("listen for the development identity provider on 127.0.0.1:%s (DEV_IDP_PORT; off disables it): %w", port, err)
	}
	p, err := devidp.Start(l, nil, ttl)
	if err != nil {
		return sso.Config{}, Component{}, err
	}
	if err := seedSSOGroup(ctx, store, clock); err != nil {
		_ = p.Shutdown(ctx)
		return sso.Config{}, Component{}, err
	}
	cfg := sso.Config{Issuer: p.Issuer(), ClientID: devidp.ClientID, AdminGroup: devidp.AdminGroup}
	people := []string{}
	for _, per := range p.People() {
		people = append(people, fmt.Sprintf("%s %v", per.Username, per.Groups))
	}
	logger.Info("development identity provider", slog.String("issuer", p.Issuer()),
		slog.String("client_id", devidp.ClientID), slog.String("token_ttl", p.TokenTTL().String()),
		slog.Any("people", people))
	return cfg, Component{Name: "dev-idp", Run: func(ctx context.Context) error {
		<-ctx.Done()
		return p.Shutdown(context.WithoutCancel(ctx))
	}}, nil
}

func seedSSOGroup(ctx context.Context, store *ddbstore.Store, clock policy.Clock) error {
	groups, err := store.ListGroups(ctx)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.Name == seededGroupName {
			return nil
		}
	}
	g, err := store.CreateGroup(ctx, policy.Group{ID: policy.NewID("g"), Name: seededGroupName, Priority: 100,
		Description: "Seeded by make run: members of the IdP group eng-all", CreatedAt: clock.Now()})
	if err != nil {
		return fmt.Errorf("seed the group %s: %w", seededGroupName, err)
	}
	_, err = store.ChangeSettings(ctx, g.ID, policy.SettingsChange{Set: map[string]json.RawMessage{
		"usage_limit": json.RawMessage(`{"type":"per_user","interval":"weekly","hours":10}`)}}, 0, "admin", clock.Now())
	if err != nil {
		return fmt.Errorf("seed the usage limit of %s: %w", seededGroupName, err)
	}
	return store.SetSSOMapping(ctx, g.ID, []string{devidp.EngineersGroup})
}
