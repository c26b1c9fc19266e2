package collect_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/collect"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/processor"
)

// An invalid event is rejected with the field path that failed; the
// rest of its batch is written, and the answer says which is which.
func TestCollectRejectsInvalidEventsAndWritesTheRest(t *testing.T) {
	r := newRig(t)
	wrongType := addToCart("bad-qty", "c-1")
	wrongType["fields"].(map[string]any)["items"] = []any{map[string]any{"product_id": "p-1", "quantity": "two", "unit_price_cents": 5}}
	unknownField := pageView("bad-field", "a-1")
	unknownField["fields"].(map[string]any)["colour"] = "red"
	missing := pageView("bad-missing", "a-1")
	delete(missing["fields"].(map[string]any), "url")
	badEnum := pageView("bad-enum", "a-1")
	badEnum["fields"].(map[string]any)["page_type"] = "LANDING"
	owned := pageView("bad-owned", "a-1")
	owned["fields"].(map[string]any)["customer_id"] = "someone-else"
	fixed := addToCart("bad-fixed", "c-1")
	fixed["fields"].(map[string]any)["type"] = "PURCHASE"
	unknownType := pageView("bad-type", "a-1")
	unknownType["type"] = "page_viewed"
	noID := pageView("", "a-1")
	badTime := pageView("bad-time", "a-1")
	badTime["time"] = "yesterday"

	a := r.post(t, pageView("good-1", "a-1"), wrongType, unknownField, missing, badEnum, owned, fixed, unknownType, noID, badTime, addToCart("good-2", "c-1"))
	for _, rj := range a.Rejected {
		t.Logf("rejected %+v", rj)
	}
	if a.status != 400 {
		t.Fatalf("status %d, want 400", a.status)
	}
	if strings.Join(a.Accepted, ",") != "good-1,good-2" {
		t.Errorf("accepted %v, want good-1,good-2", a.Accepted)
	}
	want := map[string]string{ // id -> field path
		"bad-qty":     "fields.items",
		"bad-field":   "fields.colour",
		"bad-missing": "fields.url",
		"bad-enum":    "fields.page_type",
		"bad-owned":   "fields.customer_id",
		"bad-fixed":   "fields.type",
		"bad-type":    "type",
		"":            "id",
		"bad-time":    "time",
	}
	for _, rj := range a.Rejected {
		field, ok := want[rj.ID]
		if !ok {
			t.Errorf("unexpected rejection %+v", rj)
			continue
		}
		if !strings.HasPrefix(rj.Field, field) || rj.Error == "" {
			t.Errorf("rejection %+v: want field %s and a reason", rj, field)
		}
		delete(want, rj.ID)
	}
	if len(want) > 0 {
		t.Errorf("not rejected: %v (answer %+v)", want, a)
	}
	got := r.readWritten(t, kgo.ReadCommitted(), true)
	if len(got) != 2 || len(got["good-1"]) != 1 || len(got["good-2"]) != 1 {
		t.Errorf("in Kafka: %d ids (%v), want good-1 and good-2 once", len(got), keys(got))
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Requests wrong as a whole are refused with nothing written: malformed
// JSON, too many events, too large a body, a content type that is not
// JSON, an unknown write key, a browser origin not allowed.
func TestCollectRefusesBadRequests(t *testing.T) {
	r := newRig(t, func(o *collect.Options) { o.MaxBatchEvents = 3; o.RateBurst = 3; o.MaxBodyBytes = 4096 })
	many := []map[string]any{pageView("m-1", "a"), pageView("m-2", "a"), pageView("m-3", "a"), pageView("m-4", "a")}
	body := func(evs ...map[string]any) []byte {
		b, _ := json.Marshal(map[string]any{"events": evs})
		return b
	}
	key := map[string]string{"X-Weir-Write-Key": testKey}
	big := pageView("big", "a")
	big["fields"].(map[string]any)["url"] = strings.Repeat("x", 5000)
	cases := []struct {
		name        string
		contentType string
		body        []byte
		header      map[string]string
		status      int
		msg         string
	}{
		{"malformed JSON", "application/json", []byte(`{"events": [`), key, 400, "malformed JSON"},
		{"no events", "application/json", []byte(`{"events": []}`), key, 400, "no events"},
		{"too many events", "application/json", body(many...), key, 413, "at most 3"},
		{"body too large", "application/json", body(big), key, 413, "larger than 4096"},
		{"not JSON", "application/xml", body(pageView("x-1", "a")), key, 415, "application/json"},
		{"unknown write key", "application/json", body(pageView("x-2", "a")), map[string]string{"X-Weir-Write-Key": "wk_nobody_12345"}, 401, "write key"},
		{"no write key", "application/json", body(pageView("x-3", "a")), nil, 401, "write key"},
		{"origin not allowed", "application/json", body(pageView("x-4", "a")), map[string]string{"X-Weir-Write-Key": testKey, "Origin": "http://evil.example"}, 403, "origin"},
	}
	for _, tc := range cases {
		a := r.postRaw(t, tc.contentType, tc.body, tc.header)
		if a.status != tc.status || !strings.Contains(a.Error, tc.msg) || len(a.Accepted) != 0 {
			t.Errorf("%s: status %d error %q accepted %v; want %d mentioning %q, none accepted", tc.name, a.status, a.Error, a.Accepted, tc.status, tc.msg)
		}
	}
	// A page from an origin not allowed can read its 403 (and so stop),
	// rather than see a blocked response it would retry.
	if a := r.postRaw(t, "application/json", body(pageView("x-5", "a")), map[string]string{"X-Weir-Write-Key": testKey, "Origin": "http://evil.example"}); a.status != 403 || a.allowedTo != "http://evil.example" {
		t.Errorf("disallowed origin: status %d, Access-Control-Allow-Origin %q", a.status, a.allowedTo)
	}
	if got := r.readWritten(t, kgo.ReadUncommitted(), false); len(got) != 0 {
		t.Errorf("refused requests wrote %v", keys(got))
	}
}

// A browser's preflight is answered with what the SDK needs: POST, the
// write-key header, and Retry-After readable by the page.
func TestCollectPreflight(t *testing.T) {
	r := newRig(t)
	req, _ := http.NewRequest(http.MethodOptions, r.srv.URL+"/v1/events", nil)
	req.Header.Set("Origin", testOrigin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type, x-weir-write-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != testOrigin ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "x-weir-write-key") ||
		!strings.Contains(h.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("preflight: %d %v", resp.StatusCode, h)
	}
	// An event from the allowed origin is taken, and its answer readable.
	a := r.postRaw(t, "text/plain;charset=UTF-8", mustJSON(map[string]any{"write_key": testKey, "events": []any{pageView("beacon-1", "a")}}), map[string]string{"Origin": testOrigin})
	if a.status != 200 || a.allowedTo != testOrigin {
		t.Errorf("beacon-style post: %+v (Access-Control-Allow-Origin %q)", a, a.allowedTo)
	}
}

// Keys a newer client adds beside the event's fields are ignored, so an
// SDK ahead of its collector keeps working; fields stay strict.
func TestCollectIgnoresUnknownEnvelopeKeys(t *testing.T) {
	r := newRig(t)
	ev := pageView("new-sdk", "a")
	ev["priority"] = "high"
	ev["context"].(map[string]any)["screen_dpi"] = 2
	body := mustJSON(map[string]any{"events": []any{ev}, "sdk": "weir-js/9"})
	if a := r.postRaw(t, "application/json", body, map[string]string{"X-Weir-Write-Key": testKey}); a.status != 200 || len(a.Accepted) != 1 {
		t.Errorf("answer %+v, want the event accepted", a)
	}
}

// Start-up fails, naming what to change, when a route's subject has no
// schema or its topic does not exist.
func TestCollectStartupNamesWhatToFix(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	base := collect.Options{
		Kafka:     []processor.Opt{processor.SeedBrokers(r.c.Brokers...)},
		Registry:  r.reg,
		WriteKeys: map[string]string{testKey: "shop"},
	}
	noSchema := base
	r.c.CreateTopic(ctx, r.prefix+"clicks", 1, nil)
	noSchema.Routes = []collect.Route{{Type: "click", Topic: r.prefix + "clicks"}}
	if _, err := collect.New(ctx, noSchema); !errors.Is(err, collect.ErrConfig) || !strings.Contains(err.Error(), "register") {
		t.Errorf("no schema: %v, want ErrConfig saying to register it", err)
	}
	noTopic := base
	noTopic.Routes = []collect.Route{{Type: "page_view", Topic: r.prefix + "web_browsing"}, {Type: "ghost", Topic: r.prefix + "no_such_topic"}}
	if _, _, err := r.reg.Latest(ctx, r.prefix+"web_browsing-value"); err != nil {
		t.Fatal(err)
	}
	rc, _ := avro.NewHTTPRegistryClient(r.c.Registry)
	if _, err := rc.Register(ctx, r.prefix+"no_such_topic-value", events.PageViewSchema); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second) // New waits for topics until ctx ends
	defer cancel()
	if _, err := collect.New(short, noTopic); !errors.Is(err, collect.ErrConfig) || !strings.Contains(err.Error(), "no_such_topic does not exist") {
		t.Errorf("no topic: %v, want ErrConfig naming the topic", err)
	}
	bad := base
	bad.WriteKeys = map[string]string{"short": "shop"}
	bad.AllowedOrigins = []string{"shop.example/"}
	if _, err := collect.New(ctx, bad); !errors.Is(err, collect.ErrConfig) || !strings.Contains(err.Error(), "shorter than 8") || !strings.Contains(err.Error(), "scheme://host") {
		t.Errorf("bad options: %v", err)
	}
}

// Events are checked against the latest schema of their subject: a new
// version registered while the collector runs is used without a restart.
func TestCollectUsesNewSchemaVersion(t *testing.T) {
	r := newRig(t, func(o *collect.Options) { o.SchemaRefresh = time.Nanosecond })
	ev := pageView("v2-1", "a")
	ev["fields"].(map[string]any)["ab_variant"] = "B"
	if a := r.post(t, ev); a.status != 400 || len(a.Rejected) != 1 || a.Rejected[0].Field != "fields.ab_variant" {
		t.Fatalf("before the new version: %+v, want ab_variant rejected", a)
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(events.PageViewSchema), &s); err != nil {
		t.Fatal(err)
	}
	s["fields"] = append(s["fields"].([]any), map[string]any{"name": "ab_variant", "type": []any{"null", "string"}, "default": nil})
	rc, _ := avro.NewHTTPRegistryClient(r.c.Registry)
	if _, err := rc.Register(context.Background(), r.prefix+events.TopicWebBrowsing+"-value", string(mustJSON(s))); err != nil {
		t.Fatal(err)
	}
	ev["id"] = "v2-2"
	if a := r.post(t, ev); a.status != 200 {
		t.Fatalf("after the new version: %+v, want accepted", a)
	}
	if got := r.readWritten(t, kgo.ReadCommitted(), true); len(got["v2-2"]) != 1 {
		t.Errorf("v2-2 not in Kafka once: %v", keys(got))
	}
}
