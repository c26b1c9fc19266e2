package serve_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/serve"
)

func deleteProfile(t *testing.T, url, id, body, token string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, url+"/v1/profiles/"+id, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// DELETE /v1/profiles/{id} submits an erasure request and answers 202
// with it; without Erase it is 501, a bad body 400, Kafka down 503, and
// it needs the token like the profiles.
func TestDeleteProfileSubmitsErasure(t *testing.T) {
	var got []events.ErasureRequest
	fail := false
	srv := serve.New(&fake{ready: true}, serve.Options{
		Auth: &serve.Auth{Tokens: []string{"secret-token-123456"}},
		Erase: func(_ context.Context, r events.ErasureRequest) error {
			if fail {
				return errors.New("kafka down")
			}
			got = append(got, r)
			return nil
		},
	})
	s := httptest.NewServer(srv)
	defer s.Close()
	const tok = "secret-token-123456"

	before := time.Now().Add(-time.Second)
	resp, body := deleteProfile(t, s.URL, "c-1", `{"requested_by": "dpo@example.com", "reason": "article 17"}`, tok)
	if resp.StatusCode != http.StatusAccepted || len(got) != 1 {
		t.Fatalf("DELETE: %d %v, %d requests submitted; want 202 and one", resp.StatusCode, body, len(got))
	}
	r := got[0]
	if r.CustomerID != "c-1" || r.RequestedBy != "dpo@example.com" || r.Reason != "article 17" || r.RequestID == "" ||
		r.RequestedAt.Before(before) || body["request_id"] != r.RequestID {
		t.Fatalf("submitted %+v, answered %v", r, body)
	}
	// Without a body: who asked is the caller's address; ids differ.
	if resp, _ := deleteProfile(t, s.URL, "c-2", "", tok); resp.StatusCode != http.StatusAccepted ||
		!strings.HasPrefix(got[1].RequestedBy, "http 127.0.0.1:") || got[1].RequestID == r.RequestID {
		t.Fatalf("DELETE without a body: %d, submitted %+v", resp.StatusCode, got[1])
	}
	if resp, _ := deleteProfile(t, s.URL, "c-3", `{"requested_by": 7}`, tok); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a malformed body: %d, want 400", resp.StatusCode)
	}
	if resp, _ := deleteProfile(t, s.URL, "c-3", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", resp.StatusCode)
	}
	fail = true
	if resp, _ := deleteProfile(t, s.URL, "c-3", "", tok); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("Kafka down: %d, want 503 with Retry-After", resp.StatusCode)
	}
	if len(got) != 2 {
		t.Fatalf("%d requests submitted, want 2", len(got))
	}

	off := httptest.NewServer(serve.New(&fake{ready: true}, serve.Options{}))
	defer off.Close()
	if resp, body := deleteProfile(t, off.URL, "c-1", "", ""); resp.StatusCode != http.StatusNotImplemented || !strings.Contains(body["error"].(string), "-erasures") {
		t.Fatalf("without Erase: %d %v, want 501 naming -erasures", resp.StatusCode, body)
	}
}
