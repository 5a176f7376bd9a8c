package kasmapi

import (
	"wspolicy/internal/devkeys"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/workspaces"
)

// Stores is what Wire needs of the storage: ddbstore.Store is all three.
type Stores interface {
	policy.Directory
	workspaces.Store
	devkeys.Store
	Users
}

// Parts are the services of issue 15 built over one store, for httpapi.Config.
type Parts struct {
	Workspaces *workspaces.Service
	DevKeys    *devkeys.Service
	Kasm       *Handler
}

// Wire builds the Workspaces registry, the developer keys and the Kasm adapter over store and
// the session service svc (which must have been built with Workspaces: store).
func Wire(store Stores, svc *sessions.Service, clock policy.Clock) Parts {
	ws := workspaces.New(store, clock)
	keys := devkeys.New(store, clock, 0)
	return Parts{Workspaces: ws, DevKeys: keys, Kasm: New(Config{Directory: store, Sessions: svc, Workspaces: ws, Keys: keys, Users: store, Clock: clock})}
}
