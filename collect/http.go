package collect

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Handler serves the collector's API: POST /v1/events (and its CORS
// preflight) and GET /v1/events/ws.
func (c *Collector) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", c.post)
	mux.HandleFunc("OPTIONS /v1/events", c.preflight)
	mux.HandleFunc("GET /v1/events/ws", c.websocket)
	return mux
}

// response is the body of every answer to POST /v1/events.
type response struct {
	Accepted   []string    `json:"accepted"`
	Duplicates []string    `json:"duplicates,omitempty"`
	Rejected   []Rejection `json:"rejected"`
	Error      string      `json:"error,omitempty"`
}

const writeKeyHeader = "X-Weir-Write-Key"

// cors sets the headers that let a page read the answer and says
// whether its origin may send events. Every origin may read: a page from
// an origin not allowed then sees its 403 and stops, where a blocked
// response would look like a network error it retries for ever.
func (c *Collector) cors(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser's cross-origin call
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "Retry-After")
	for _, o := range c.o.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// preflight lets any origin send, so that the POST reaches cors and a
// page from an origin not allowed gets a 403 it can read.
func (c *Collector) preflight(w http.ResponseWriter, r *http.Request) {
	c.cors(w, r)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type, "+writeKeyHeader)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

func (c *Collector) post(w http.ResponseWriter, r *http.Request) {
	received := c.now()
	if !c.cors(w, r) {
		c.fail(w, http.StatusForbidden, "origin not allowed: add it to the collector's allowed origins", 0)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" && mt != "text/plain" {
		c.fail(w, http.StatusUnsupportedMediaType, "send application/json (or text/plain, as sendBeacon does)", 0)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.o.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			c.fail(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(c.o.MaxBodyBytes, 10)+" bytes: send smaller batches", 0)
			return
		}
		c.fail(w, http.StatusBadRequest, "reading body: "+err.Error(), 0)
		return
	}
	b, err := decodeBody(body)
	if err != nil {
		c.fail(w, http.StatusBadRequest, err.Error(), 0)
		return
	}
	key := r.Header.Get(writeKeyHeader)
	if key == "" {
		key = r.URL.Query().Get("write_key")
	}
	if key == "" {
		key = b.WriteKey
	}
	site, ok := c.o.WriteKeys[key]
	if !ok {
		c.fail(w, http.StatusUnauthorized, "unknown or missing write key", 0)
		return
	}
	out := c.processBatch(r.Context(), site, c.clientAddr(r), b, arrival{received: received, userAgent: r.UserAgent()})
	if len(out.accepted) > 0 {
		c.m.ack.Observe(c.now().Sub(received).Seconds())
	}
	c.answer(w, out)
}

func (c *Collector) answer(w http.ResponseWriter, out outcome) {
	if out.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(out.retryAfter.Seconds()))))
	}
	c.m.requests.WithLabelValues(strconv.Itoa(out.status)).Inc()
	resp := response{Accepted: out.accepted, Duplicates: out.duplicates, Rejected: out.rejected, Error: out.err}
	if resp.Accepted == nil {
		resp.Accepted = []string{}
	}
	if resp.Rejected == nil {
		resp.Rejected = []Rejection{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(out.status)
	_ = json.NewEncoder(w).Encode(resp)
}

func (c *Collector) fail(w http.ResponseWriter, status int, msg string, retryAfter time.Duration) {
	c.answer(w, outcome{status: status, err: msg, retryAfter: retryAfter})
}

// clientAddr is the client's IP address, for its rate limit. Behind a
// proxy it is the last X-Forwarded-For entry, the one the proxy added:
// the client can write the ones before it.
func (c *Collector) clientAddr(r *http.Request) string {
	if c.o.TrustForwardedFor {
		if fs := r.Header.Values("X-Forwarded-For"); len(fs) > 0 {
			f := fs[len(fs)-1]
			return strings.TrimSpace(f[strings.LastIndex(f, ",")+1:])
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
