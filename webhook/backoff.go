package webhook

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxRetryAfter caps an endpoint's Retry-After, so a bad value (a day)
// cannot park a delivery, and its slot, for good.
const maxRetryAfter = time.Hour

// backoff says how long to wait before a retry: full jitter over an
// exponential ceiling ("Exponential Backoff And Jitter", AWS), so that
// deliveries failing together do not retry together.
type backoff struct {
	initial, max time.Duration

	mu   sync.Mutex // rand.Rand is not safe for concurrent use
	rand *rand.Rand
}

// ceiling is the longest wait before retry n (1 for the first retry).
func (b *backoff) ceiling(n int) time.Duration {
	c := b.initial
	for i := 1; i < n && c < b.max; i++ {
		c *= 2
	}
	return min(c, b.max)
}

// delay is the wait before retry n: uniform in [0, ceiling(n)], and at
// least retryAfter (the endpoint's Retry-After; 0 when it gave none).
func (b *backoff) delay(n int, retryAfter time.Duration) time.Duration {
	c := b.ceiling(n)
	b.mu.Lock()
	d := time.Duration(b.rand.Int64N(int64(c) + 1))
	b.mu.Unlock()
	return max(d, min(retryAfter, maxRetryAfter))
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date.
// It returns 0 when there is none or it cannot be read.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return min(time.Duration(min(s, int64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}
