package journey

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/webhook"
)

const testSecret = "0123456789abcdef-test"

func postTrigger(t *testing.T, url, secret string, tr events.Trigger, attempt string) int {
	t.Helper()
	body, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(secret, time.Now(), body))
	req.Header.Set(webhook.HeaderIdempotencyKey, tr.TriggerID)
	req.Header.Set(webhook.HeaderAttempt, attempt)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The engine acts once per trigger id, however often it is delivered,
// refuses bodies signed with another secret, and streams to a page the
// customer's deliveries: those kept from before it connected, then new
// ones, never another customer's.
func TestEngineActsOncePerTriggerAndStreamsTheCustomers(t *testing.T) {
	e := NewEngine(testSecret, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", e.receive)
	mux.HandleFunc("GET /stream", e.stream)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ab := events.Trigger{TriggerID: "c1:cart_abandoned:3", CustomerID: "c1", Type: events.CartAbandoned}
	if got := postTrigger(t, srv.URL+"/hook", testSecret, ab, "1"); got != http.StatusNoContent {
		t.Fatalf("first delivery: %d, want 204", got)
	}
	if got := postTrigger(t, srv.URL+"/hook", testSecret, ab, "2"); got != http.StatusNoContent {
		t.Fatalf("redelivery: %d, want 204 (acknowledged)", got)
	}
	if got := postTrigger(t, srv.URL+"/hook", "another-secret-0123", events.Trigger{TriggerID: "x", CustomerID: "c1", Type: events.AtRisk}, "1"); got != http.StatusUnauthorized {
		t.Fatalf("wrong signature: %d, want 401", got)
	}
	if e.Total() != 1 {
		t.Fatalf("acted %d times, want once", e.Total())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/stream?customer=c1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan Delivery, 4)
	go readEvents(bufio.NewReader(resp.Body), func(ev sseEvent) error {
		var d Delivery
		if ev.name != "delivery" || json.Unmarshal(ev.data, &d) != nil {
			t.Errorf("unexpected event %q %s", ev.name, ev.data)
		}
		got <- d
		return nil
	})
	if d := <-got; d.TriggerID != ab.TriggerID || d.Action != "email sent: cart abandoned" || d.Attempt != 1 {
		t.Fatalf("kept delivery: %+v", d)
	}
	// Subscribed once the kept one arrived; another customer's is not sent.
	postTrigger(t, srv.URL+"/hook", testSecret, events.Trigger{TriggerID: "c2:at_risk:1", CustomerID: "c2", Type: events.AtRisk}, "1")
	postTrigger(t, srv.URL+"/hook", testSecret, events.Trigger{TriggerID: "c1:at_risk:5", CustomerID: "c1", Type: events.AtRisk}, "1")
	select {
	case d := <-got:
		if d.TriggerID != "c1:at_risk:5" || d.Type != events.AtRisk {
			t.Fatalf("live delivery: %+v, want c1:at_risk:5", d)
		}
	case <-ctx.Done():
		t.Fatal("no live delivery")
	}
}
