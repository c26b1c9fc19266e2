// Package serve is a worker's HTTP API: profiles by customer id from any
// worker (the owner answers, others forward), triggers as server-sent
// events, health, readiness and Prometheus metrics.
package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
)

// Backend reads committed state; *processor.App is one.
type Backend interface {
	Get(store string, key []byte) ([]byte, bool, error)
	Ready() bool
}

// Options configures a Server. Zero values take the defaults beside.
type Options struct {
	// Self is this worker's advertised address, sent back in the
	// X-Weir-Served-By header. Default: none.
	Self string
	// Client forwards requests to owners. Default: a client with a 5s
	// timeout.
	Client *http.Client
	// Gatherer serves /metrics. Default: a new registry with no metrics.
	Gatherer prometheus.Gatherer
	// TriggerBuffer is how many triggers a slow SSE client may fall
	// behind before it is disconnected. Default: 256.
	TriggerBuffer int
}

const forwardedHeader = "X-Weir-Forwarded"

// Server is the HTTP API of one worker.
type Server struct {
	b    Backend
	opts Options
	mux  *http.ServeMux

	mu   sync.Mutex
	subs map[chan events.Trigger]struct{}
}

// New returns a Server over b.
func New(b Backend, opts Options) *Server {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.NewRegistry()
	}
	if opts.TriggerBuffer <= 0 {
		opts.TriggerBuffer = 256
	}
	s := &Server{b: b, opts: opts, mux: http.NewServeMux(), subs: map[chan events.Trigger]struct{}{}}
	s.mux.HandleFunc("GET /v1/profiles/{id}", s.profile)
	s.mux.HandleFunc("GET /v1/triggers", s.triggers)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.b.Ready() {
			http.Error(w, "restoring\n", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

type errorBody struct {
	Error string `json:"error"`
}

// profile answers GET /v1/profiles/{id}: 200 with the profile, 404 with
// the default profile ("known": false) so engines need no second call,
// 503 while the owner is unknown or restoring.
func (s *Server) profile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.opts.Self != "" {
		w.Header().Set("X-Weir-Served-By", s.opts.Self)
	}
	v, ok, err := s.b.Get(profile.StoreProfiles, []byte(id))
	var no *processor.NotOwnerError
	switch {
	case err == nil && ok:
		p, err := profile.DecodeStored(v)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, errorBody{err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, p)
	case err == nil:
		writeJSON(w, http.StatusNotFound, profile.Default(id))
	case errors.As(err, &no) && no.Owner != "" && r.Header.Get(forwardedHeader) == "":
		s.forward(w, r, no.Owner, id)
	case errors.As(err, &no), errors.Is(err, processor.ErrNotReady):
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, errorBody{err.Error()})
	}
}

func (s *Server) forward(w http.ResponseWriter, r *http.Request, owner, id string) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://"+owner+"/v1/profiles/"+url.PathEscape(id), nil)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorBody{err.Error()})
		return
	}
	req.Header.Set(forwardedHeader, "1")
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{fmt.Sprintf("owner %s: %v", owner, err)})
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Retry-After", "X-Weir-Served-By"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// Publish sends t to every connected /v1/triggers client. It never
// blocks: a client whose buffer is full is disconnected.
func (s *Server) Publish(t events.Trigger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- t:
		default:
			delete(s.subs, ch)
			close(ch)
		}
	}
}

// triggers streams triggers as server-sent events until the client
// leaves (or falls too far behind).
func (s *Server) triggers(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeJSON(w, http.StatusInternalServerError, errorBody{"streaming unsupported"})
		return
	}
	ch := make(chan events.Trigger, s.opts.TriggerBuffer)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case t, ok := <-ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(t)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", t.Type, b)
			fl.Flush()
		}
	}
}

// Subscribers is the number of connected trigger streams.
func (s *Server) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}
