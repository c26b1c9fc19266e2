package serve_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/serve"
)

type fakeGlobals struct {
	tables map[string]map[string]string
	err    error
}

func (f *fakeGlobals) GetGlobal(store string, key []byte) ([]byte, bool, error) {
	if f.err != nil {
		return nil, false, f.err
	}
	t, ok := f.tables[store]
	if !ok {
		return nil, false, processor.ErrUnknownStore
	}
	v, ok := t[string(key)]
	return []byte(v), ok, nil
}

func TestGlobalTableEndpoint(t *testing.T) {
	g := &fakeGlobals{tables: map[string]map[string]string{
		"products": {"p1": `{"name":"lamp"}`},
		"secret":   {"k": "v"},
	}}
	srv := serve.New(&fake{ready: true}, serve.Options{Self: "w1:8080"})
	srv.ServeGlobals(g,
		serve.GlobalTable{Name: "products", JSON: func(b []byte) (any, error) {
			var v map[string]any
			return v, json.Unmarshal(b, &v)
		}},
		serve.GlobalTable{Name: "raw"})
	g.tables["raw"] = map[string]string{"k 1": "\x00bytes"}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	get := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b), resp.Header
	}
	for _, c := range []struct {
		path, body string
		status     int
	}{
		{"/v1/globals/products/p1", `{"name":"lamp"}`, 200},
		{"/v1/globals/products/p2", `no key in products`, 404},
		{"/v1/globals/raw/k%201", "\x00bytes", 200},
		{"/v1/globals/secret/k", `no global table secret`, 404}, // not listed: not served
		{"/v1/globals/nope/k", `no global table nope`, 404},
	} {
		status, body, h := get(c.path)
		if status != c.status || !strings.Contains(body, c.body) {
			t.Errorf("GET %s = %d %q, want %d with %q", c.path, status, body, c.status, c.body)
		}
		if h.Get("X-Weir-Served-By") != "w1:8080" {
			t.Errorf("GET %s: served-by %q", c.path, h.Get("X-Weir-Served-By"))
		}
	}
	if _, _, h := get("/v1/globals/raw/k%201"); h.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("raw table content type %q", h.Get("Content-Type"))
	}

	g.err = processor.ErrNotReady
	if status, _, h := get("/v1/globals/products/p1"); status != 503 || h.Get("Retry-After") == "" {
		t.Errorf("loading: %d, Retry-After %q; want 503 with Retry-After", status, h.Get("Retry-After"))
	}
	g.err = errors.New("disk on fire")
	if status, _, _ := get("/v1/globals/products/p1"); status != 500 {
		t.Errorf("read error: %d, want 500", status)
	}
}
