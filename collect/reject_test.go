package collect_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/collect"
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
	if got := r.readWritten(t, kgo.ReadUncommitted(), false); len(got) != 0 {
		t.Errorf("refused requests wrote %v", keys(got))
	}
}
