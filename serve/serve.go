// Package serve is a worker's HTTP API: profiles by customer id from any
// worker (the owner answers, others forward), triggers as server-sent
// events, health, readiness and Prometheus metrics.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

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
	// Gatherer serves /metrics. Default: a new registry holding the
	// Server's own Metrics (see Server.Metrics).
	Gatherer prometheus.Gatherer
	// TriggerBuffer is how many triggers a slow SSE client may fall
	// behind before it is disconnected. Default: 256.
	TriggerBuffer int
	// Logger logs failed forwards and writes, never profile contents.
	// Default: no logging.
	Logger *zap.Logger
	// Auth guards profiles and triggers (see Auth); refused requests are
	// counted in weir_http_unauthorized_total. Default: nil, open to all.
	Auth *Auth
	// ForwardScheme is how owners are reached: "http" or "https" (then
	// Client must trust the owners' certificates). Default: "http".
	ForwardScheme string
	// ForwardToken is sent as a bearer token when forwarding, for owners
	// that require one (a client certificate goes in Client instead).
	// Default: none.
	ForwardToken string
	// ProfileBuffer is how many updates a slow /v1/profiles/{id}/stream
	// client may fall behind before it is disconnected. Default: 64.
	ProfileBuffer int
	// PingInterval is how often an idle /v1/profiles/{id}/stream gets a
	// ": ping" comment, so proxies keep it open. Default: 15s.
	PingInterval time.Duration
	// Erase submits an erasure request (DELETE /v1/profiles/{id}),
	// returning once Kafka has it. Default: nil, and the route answers
	// 501 (ErrErasureDisabled).
	Erase func(ctx context.Context, r events.ErasureRequest) error
}

const forwardedHeader = "X-Weir-Forwarded"

// Server is the HTTP API of one worker.
type Server struct {
	b       Backend
	opts    Options
	mux     *http.ServeMux
	metrics *Metrics
	guard   *guard
	// forwardToken starts as Options.ForwardToken (SetForwardToken).
	forwardToken atomic.Pointer[string]

	mu   sync.Mutex
	subs map[chan events.Trigger]struct{}
	// profileSubs are the profile streams by customer id.
	profileSubs map[string]map[chan events.ProfileUpdate]struct{}
	nProfile    int // streams in profileSubs
	// changed is closed and replaced whenever subs or profileSubs change.
	changed chan struct{}
}

// New returns a Server over b.
func New(b Backend, opts Options) *Server {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 5 * time.Second}
	}
	// own holds the Server's metrics; the caller's Gatherer is served too.
	own := prometheus.NewRegistry()
	var metrics *Metrics
	if opts.Gatherer == nil {
		metrics = NewMetrics(own)
		opts.Gatherer = own
	} else {
		opts.Gatherer = prometheus.Gatherers{own, opts.Gatherer}
	}
	if opts.ForwardScheme == "" {
		opts.ForwardScheme = "http"
	}
	if opts.TriggerBuffer <= 0 {
		opts.TriggerBuffer = 256
	}
	if opts.ProfileBuffer <= 0 {
		opts.ProfileBuffer = 64
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	s := &Server{
		b: b, opts: opts, mux: http.NewServeMux(), metrics: metrics,
		subs:        map[chan events.Trigger]struct{}{},
		profileSubs: map[string]map[chan events.ProfileUpdate]struct{}{},
		changed:     make(chan struct{}),
	}
	s.guard = newGuard(opts.Auth, own, opts.Logger)
	registerBackendGauges(own, b)
	s.forwardToken.Store(&opts.ForwardToken)
	s.mux.HandleFunc("GET /v1/profiles/{id}", s.guard.wrap(s.profile))
	s.mux.HandleFunc("GET /v1/profiles/{id}/stream", s.guard.wrap(s.profileStream))
	s.mux.HandleFunc("DELETE /v1/profiles/{id}", s.guard.wrap(s.erase))
	s.mux.HandleFunc("GET /v1/triggers", s.guard.wrap(s.triggers))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Metrics returns the processor.Metrics that /metrics exposes when
// Options.Gatherer was nil; with a Gatherer of the caller's, nil (the
// caller registers its own NewMetrics there).
func (s *Server) Metrics() *Metrics { return s.metrics }

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.opts.Logger.Debug("serve: write response", zap.Error(err))
	}
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
			s.writeJSON(w, http.StatusInternalServerError, errorBody{err.Error()})
			return
		}
		s.writeJSON(w, http.StatusOK, p)
	case err == nil:
		s.writeJSON(w, http.StatusNotFound, profile.Default(id))
	case errors.As(err, &no) && no.Owner != "" && r.Header.Get(forwardedHeader) == "":
		s.forward(w, r, no.Owner, id)
	case errors.As(err, &no), errors.Is(err, processor.ErrNotReady):
		w.Header().Set("Retry-After", "1")
		s.writeJSON(w, http.StatusServiceUnavailable, errorBody{err.Error()})
	default:
		s.writeJSON(w, http.StatusInternalServerError, errorBody{err.Error()})
	}
}

// errOwnerRefused: the owner answered 401 to this worker's own
// credentials (ForwardToken, Client's certificate): a misconfigured
// cluster, not the caller's fault.
var errOwnerRefused = errors.New("refused this worker's forwarding credentials")

// forwardGet asks owner for id's profile. An error is the owner
// unreachable (503 to the caller) or errOwnerRefused (502).
func (s *Server) forwardGet(ctx context.Context, owner, id string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.opts.ForwardScheme+"://"+owner+"/v1/profiles/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(forwardedHeader, "1")
	if tok := *s.forwardToken.Load(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		// Not the *url.Error itself: its URL names the customer.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		s.opts.Logger.Warn("serve: forward to owner", zap.String("owner", owner), zap.Error(err))
		return nil, fmt.Errorf("owner %s: %w", owner, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		resp.Body.Close()
		s.opts.Logger.Warn("serve: owner refused this worker's forwarding credentials", zap.String("owner", owner))
		return nil, fmt.Errorf("owner %s %w", owner, errOwnerRefused)
	}
	return resp, nil
}

func (s *Server) forward(w http.ResponseWriter, r *http.Request, owner, id string) {
	resp, err := s.forwardGet(r.Context(), owner, id)
	switch {
	case errors.Is(err, errOwnerRefused):
		s.writeJSON(w, http.StatusBadGateway, errorBody{err.Error()})
		return
	case err != nil:
		w.Header().Set("Retry-After", "1")
		s.writeJSON(w, http.StatusServiceUnavailable, errorBody{err.Error()})
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Retry-After", "X-Weir-Served-By"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		s.opts.Logger.Debug("serve: copy forwarded response", zap.String("owner", owner), zap.Error(err))
	}
}

// Publish sends t to every connected /v1/triggers client. It never
// blocks: a client that has fallen TriggerBuffer triggers behind is
// disconnected (it reconnects and knows it missed some, rather than
// silently receiving a stream with holes).
func (s *Server) Publish(t events.Trigger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- t:
		default:
			s.unsubscribeLocked(ch)
		}
	}
}

func (s *Server) unsubscribeLocked(ch chan events.Trigger) {
	if _, ok := s.subs[ch]; !ok {
		return
	}
	delete(s.subs, ch)
	close(ch)
	close(s.changed)
	s.changed = make(chan struct{})
}

// triggers streams triggers as server-sent events until the client
// leaves (or falls too far behind).
func (s *Server) triggers(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		s.writeJSON(w, http.StatusInternalServerError, errorBody{"streaming unsupported"})
		return
	}
	ch := make(chan events.Trigger, s.opts.TriggerBuffer)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.unsubscribeLocked(ch)
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	// A comment line: the client knows it is subscribed once it reads it.
	io.WriteString(w, ": subscribed\n\n")
	fl.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case t, ok := <-ch:
			if !ok {
				return
			}
			b, err := json.Marshal(t)
			if err != nil {
				s.opts.Logger.Error("serve: encode trigger", zap.String("trigger_id", t.TriggerID), zap.Error(err))
				continue
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", t.Type, b); err != nil {
				return // client gone
			}
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
