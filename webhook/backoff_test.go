package webhook

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

// seeded returns a rand seeded from the clock, logging the seed so a
// failure can be replayed.
func seeded(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("random seed %d", seed)
		}
	})
	return rand.New(rand.NewPCG(seed, seed))
}

func TestBackoffCeilingGrowsAndCaps(t *testing.T) {
	b := &backoff{initial: 500 * time.Millisecond, max: 30 * time.Second, rand: seeded(t)}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := b.ceiling(i + 1); got != w {
			t.Errorf("ceiling(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := b.ceiling(1000); got != 30*time.Second {
		t.Errorf("ceiling(1000) = %v, want the cap", got)
	}
}

func TestBackoffJitterWithinBounds(t *testing.T) {
	b := &backoff{initial: 100 * time.Millisecond, max: time.Second, rand: seeded(t)}
	for n := 1; n <= 6; n++ {
		c := b.ceiling(n)
		var lo, hi time.Duration = c, 0
		for range 2000 {
			d := b.delay(n, 0)
			if d < 0 || d > c {
				t.Fatalf("delay(%d) = %v, outside [0, %v]", n, d, c)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// Full jitter spreads over the whole range, not around the ceiling.
		if lo > c/10 || hi < c*9/10 {
			t.Errorf("delay(%d) over 2000 draws spans [%v, %v]; want close to [0, %v]", n, lo, hi, c)
		}
	}
}

func TestBackoffRetryAfterFloor(t *testing.T) {
	b := &backoff{initial: 10 * time.Millisecond, max: 100 * time.Millisecond, rand: seeded(t)}
	for range 100 {
		if d := b.delay(1, 3*time.Second); d != 3*time.Second {
			t.Fatalf("delay with Retry-After 3s = %v, want 3s (above the cap, still honoured)", d)
		}
	}
	if d := b.delay(1, 24*time.Hour); d != maxRetryAfter {
		t.Fatalf("delay with Retry-After 24h = %v, want %v", d, maxRetryAfter)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":     0,
		"1":    time.Second,
		" 30 ": 30 * time.Second,
		"-5":   0,
		"soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
		"99999999999": maxRetryAfter,
	}
	for v, want := range cases {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
