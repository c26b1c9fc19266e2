package webhook

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	const secret = "0123456789abcdef-secret"
	at := time.Unix(1_800_000_000, 0)
	body := []byte(`{"trigger_id":"c-1:AT_RISK:3"}`)
	sig := Sign(secret, at, body)
	if !strings.HasPrefix(sig, "t=1800000000,v1=") {
		t.Fatalf("header %q: want t=<unix seconds>,v1=<hex>", sig)
	}
	cases := []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", secret, sig, body, at.Add(2 * time.Minute), nil},
		{"valid, second v1 while rotating", secret, Sign("old-secret-0123456789", at, body) + "," + sig[strings.Index(sig, "v1="):], body, at, nil},
		{"tampered body", secret, sig, []byte(`{"trigger_id":"c-2:AT_RISK:3"}`), at, ErrSignature},
		{"wrong secret", "another-secret-0123", sig, body, at, ErrSignature},
		{"stale timestamp", secret, sig, body, at.Add(6 * time.Minute), ErrSignatureExpired},
		{"timestamp from the future", secret, sig, body, at.Add(-6 * time.Minute), ErrSignatureExpired},
		{"changed timestamp", secret, strings.Replace(sig, "t=1800000000", "t=1800000300", 1), body, at.Add(5 * time.Minute), ErrSignature},
		{"no v1", secret, "t=1800000000", body, at, ErrSignatureMalformed},
		{"not hex", secret, "t=1800000000,v1=zz", body, at, ErrSignatureMalformed},
		{"empty", secret, "", body, at, ErrSignatureMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.secret, c.header, c.body, c.now, 5*time.Minute)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}
