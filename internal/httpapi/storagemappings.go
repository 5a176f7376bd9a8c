package httpapi

import (
	"encoding/json"
	"net/http"

	"wspolicy/internal/launch"
)

// storageMappingRoutes are the routes of a user's own storage mappings: the user's own key or
// an admin key. Registering needs the user's allow_user_storage_mapping and respects their
// max_user_storage_mappings; listing and deleting need neither.
func (s *server) storageMappingRoutes() []route {
	return []route{
		{"POST /v1/users/{user_id}/storage-mappings", accessSelfUser, s.handleCreateStorageMapping},
		{"GET /v1/users/{user_id}/storage-mappings", accessSelfUser, s.handleListStorageMappings},
		{"DELETE /v1/users/{user_id}/storage-mappings/{mapping_id}", accessSelfUser, s.handleDeleteStorageMapping},
	}
}

// storageMappingListView is the answer of GET /v1/users/{user_id}/storage-mappings.
type storageMappingListView struct {
	UserID          string                  `json:"user_id"`
	StorageMappings []launch.StorageMapping `json:"storage_mappings"`
}

func (s *server) handleCreateStorageMapping(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sessionService()
	if err != nil {
		return err
	}
	// The body's fields are checked by launch.ParseStorageMapping, which names the offending
	// one; here it only has to be one JSON object within the size and depth limits.
	var body json.RawMessage
	if err := decodeJSONBody(w, r, &body, true); err != nil {
		return err
	}
	m, err := svc.RegisterStorageMapping(r.Context(), actorOf(r), r.PathValue("user_id"), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, m)
	return nil
}

func (s *server) handleListStorageMappings(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sessionService()
	if err != nil {
		return err
	}
	userID := r.PathValue("user_id")
	ms, err := svc.StorageMappings(r.Context(), actorOf(r), userID)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []launch.StorageMapping{}
	}
	writeJSON(w, http.StatusOK, storageMappingListView{UserID: userID, StorageMappings: ms})
	return nil
}

func (s *server) handleDeleteStorageMapping(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sessionService()
	if err != nil {
		return err
	}
	if err := svc.DeleteStorageMapping(r.Context(), actorOf(r), r.PathValue("user_id"), r.PathValue("mapping_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
