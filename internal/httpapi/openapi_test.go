package httpapi

import (
	"context"

	"encoding/json"
	"github.com/getkin/kin-openapi/openapi3"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

type openAPIOperation struct {
	OperationID string                     `json:"operationId"`
	Security    *[]map[string][]string     `json:"security"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

var openAPIMethods = []string{"get", "put", "post", "delete", "patch", "head", "options"}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Fatalf("openapi version: got %q, want 3.0.x", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPIMatchesRoutes fails when a route is missing from the document or the document
// describes a route the server does not have, and checks through the mux itself that every
// documented operation reaches the route of the same pattern.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	s := newServer(Config{Directory: &keyDirectory{}})

	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if slices.Contains(openAPIMethods, method) {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	routed := map[string]bool{}
	for _, rt := range s.routes {
		if routed[rt.pattern] {
			t.Errorf("route %q is registered twice", rt.pattern)
		}
		routed[rt.pattern] = true
	}
	for p := range routed {
		if !documented[p] {
			t.Errorf("route %q is not in openapi.json", p)
		}
	}
	for p := range documented {
		if !routed[p] {
			t.Errorf("openapi.json describes %q, which has no route", p)
		}
	}

	wildcard := regexp.MustCompile(`\{[^}]+\}`)
	for p := range documented {
		method, path, _ := strings.Cut(p, " ")
		concrete := wildcard.ReplaceAllString(path, "x1")
		_, got := s.mux.Handler(httptest.NewRequest(method, concrete, nil))
		if got != p {
			t.Errorf("mux routes %s %s to %q, want %q", method, concrete, got, p)
		}
	}
}

// TestOpenAPIOperations checks what every operation must say: an id, its responses, the
// parameters of its path, and that only the public routes waive the bearer key.
func TestOpenAPIOperations(t *testing.T) {
	doc := loadOpenAPI(t)
	s := newServer(Config{Directory: &keyDirectory{}})
	accessOf := map[string]access{}
	for _, rt := range s.routes {
		accessOf[rt.pattern] = rt.access
	}
	ids := map[string]bool{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if !slices.Contains(openAPIMethods, method) {
				continue
			}
			name := strings.ToUpper(method) + " " + path
			var op openAPIOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if op.OperationID == "" || ids[op.OperationID] {
				t.Errorf("%s: operationId %q missing or repeated", name, op.OperationID)
			}
			ids[op.OperationID] = true
			public := op.Security != nil && len(*op.Security) == 0
			if want := accessOf[name] == accessPublic; public != want {
				t.Errorf("%s: documented as public=%v, route is public=%v", name, public, want)
			}
			if !public && op.Responses["401"] == nil {
				t.Errorf("%s: needs a key but documents no 401", name)
			}
			if strings.Contains(path, "_id}") && op.Responses["400"] == nil {
				t.Errorf("%s: has an id in its path but documents no 400", name)
			}
			hasSuccess := false
			for code := range op.Responses {
				hasSuccess = hasSuccess || strings.HasPrefix(code, "2")
			}
			if !hasSuccess {
				t.Errorf("%s: documents no 2xx response", name)
			}
		}
	}
}

func TestOpenAPIIsServed(t *testing.T) {
	h := New(Config{Directory: &keyDirectory{}})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: got %d %s, want 200 application/json", w.Code, w.Header().Get("Content-Type"))
	}
	if !json.Valid(w.Body.Bytes()) {
		t.Fatalf("GET /v1/openapi.json: body is not JSON")
	}
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
}
