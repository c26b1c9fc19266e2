package collect

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per client (site and address), forgotten
// after idleForget without requests.
type limiter struct {
	perSec float64
	burst  int

	mu      sync.Mutex
	clients map[string]*clientLimit
	swept   time.Time
}

type clientLimit struct {
	lim  *rate.Limiter
	seen time.Time
}

const idleForget = 10 * time.Minute

// maxClients bounds the buckets kept; past it, buckets idle for a minute
// go at once (made-up addresses cannot grow the map for ten minutes).
const maxClients = 100_000

func newLimiter(perSec float64, burst int) *limiter {
	return &limiter{perSec: perSec, burst: burst, clients: map[string]*clientLimit{}}
}

// take spends n events of client's budget and returns 0, or leaves it
// and returns how long until it holds n.
func (l *limiter) take(client string, n int, now time.Time) time.Duration {
	if math.IsInf(l.perSec, 1) {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if idle := idleForget; now.Sub(l.swept) > idle || len(l.clients) >= maxClients {
		if len(l.clients) >= maxClients {
			idle = time.Minute
		}
		for k, c := range l.clients {
			if now.Sub(c.seen) > idle {
				delete(l.clients, k)
			}
		}
		l.swept = now
	}
	c := l.clients[client]
	if c == nil {
		c = &clientLimit{lim: rate.NewLimiter(rate.Limit(l.perSec), l.burst)}
		l.clients[client] = c
	}
	c.seen = now
	r := c.lim.ReserveN(now, n)
	if !r.OK() {
		return time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}
