package main

import (
	"testing"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/webhook"
)

// TestWebhooksFlags: flags come from WEIR_* too, -endpoint repeats and
// splits on commas, * means every type, and the secret comes from
// WEIR_WEBHOOK_SECRET.
func TestWebhooksFlags(t *testing.T) {
	env := map[string]string{
		"WEIR_BROKERS": "k1:9092,k2:9092", "WEIR_REGISTRY": "http://sr:8081",
		"WEIR_WEBHOOK_SECRET": "0123456789abcdef0123", "WEIR_MAX_ATTEMPTS": "3",
	}
	f, err := parseWebhooksFlags([]string{"-endpoint", "*=http://all/x,cart_abandoned=http://carts", "-endpoint", "AT_RISK=http://risk"},
		func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if f.maxAttempts != 3 || f.brokers != "k1:9092,k2:9092" || f.secret != env["WEIR_WEBHOOK_SECRET"] || f.group != "weir-webhooks" {
		t.Fatalf("flags %+v", f)
	}
	eps, err := parseEndpoints(f.endpoints, f.secret)
	if err != nil {
		t.Fatal(err)
	}
	want := []webhook.Endpoint{
		{Type: "", URL: "http://all/x", Secret: f.secret},
		{Type: events.CartAbandoned, URL: "http://carts", Secret: f.secret},
		{Type: events.AtRisk, URL: "http://risk", Secret: f.secret},
	}
	if len(eps) != len(want) {
		t.Fatalf("endpoints %+v, want %+v", eps, want)
	}
	for i := range want {
		if eps[i] != want[i] {
			t.Errorf("endpoint %d: %+v, want %+v", i, eps[i], want[i])
		}
	}
	if _, err := parseEndpoints([]string{"http://no-type"}, f.secret); err == nil {
		t.Error("an endpoint without TYPE= was accepted")
	}
}
