// Package journey serves the browser demo of `weir demo`: a shop page
// instrumented with the browser SDK, a live profile panel beside it, an
// operator view with charts, and a small personalization engine that
// receives the triggers by webhook. The pages are built from web/ (npm
// run build) into web/dist, which is committed and embedded, so the
// binary serves them with nothing fetched at run time.
//
// Everything the pages read comes from the running application: events
// go through the collector (mounted on this server, so the shop posts to
// its own origin), profiles and triggers are proxied from the workers'
// HTTP API with the worker token kept here, and the operator view reads
// what each worker reported through processor.Metrics.
package journey

import (
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/weirstream/weir/events"
)

//go:embed web/dist
var dist embed.FS

// Workers is what the demo runs: its workers' API addresses, and a way
// to stop one (the operator view's button), so a person can watch the
// others take over.
type Workers interface {
	// List is every worker, running or stopped, by index.
	List() []Worker
	// Stop stops worker i and closes its HTTP API. It refuses to stop
	// the last running one.
	Stop(i int) error
}

// Worker is one worker as the pages see it.
type Worker struct {
	Name    string `json:"name"`
	Index   int    `json:"index"`
	Addr    string `json:"addr"` // its HTTP API, host:port
	Running bool   `json:"running"`
}

// ErrLastWorker: stopping it would leave nothing to serve the pages.
var ErrLastWorker = errors.New("journey: the last running worker cannot be stopped")

// Options configure a Server. Zero values take the defaults beside.
type Options struct {
	Workers Workers // required
	// Token is the bearer token of the workers' API, added to proxied
	// requests so the pages never hold it.
	Token string
	// Collector serves POST /v1/events (collect.Collector.Handler).
	// Required.
	Collector http.Handler
	// WriteKey is the collector key the shop page uses. Required.
	WriteKey string
	// Catalog is the products the shop shows, with how often the
	// background customers viewed each (the "popular" fallback).
	Catalog []Product
	// Customers are known customer ids offered by the page's switcher.
	Customers []string
	// StaleAfter: a profile whose last event is older than this is
	// stale, and the recommendations fall back to popular products.
	// Default 30 minutes (a session).
	StaleAfter time.Duration
	// Operator is the source of the operator view. Required.
	Operator *Operator
	// Engine receives the trigger webhooks. Required.
	Engine *Engine
	// Logger; default none.
	Logger *zap.Logger
}

// Product is a catalog entry as the shop shows it.
type Product struct {
	events.Product
	Popularity int `json:"popularity"`
}

// MarshalJSON writes the product with the pages' field names.
func (p Product) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ProductID  string `json:"product_id"`
		Name       string `json:"name"`
		Category   string `json:"category"`
		Brand      string `json:"brand"`
		PriceCents int64  `json:"price_cents"`
		Currency   string `json:"currency"`
		InStock    bool   `json:"in_stock"`
		Popularity int    `json:"popularity"`
	}{p.ProductID, p.Name, p.Category, p.Brand, p.PriceCents, p.Currency, p.InStock, p.Popularity})
}

// Server serves the pages and their API.
type Server struct {
	o     Options
	mux   *http.ServeMux
	proxy *proxy
}

// New makes a Server.
func New(o Options) (*Server, error) {
	if o.Workers == nil || o.Collector == nil || o.WriteKey == "" || o.Operator == nil || o.Engine == nil {
		return nil, errors.New("journey: Workers, Collector, WriteKey, Operator and Engine are required")
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 30 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	site, err := fs.Sub(dist, "web/dist")
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, mux: http.NewServeMux(), proxy: newProxy(o.Workers, o.Token, o.Logger)}
	files := http.FileServerFS(site)
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			http.ServeFileFS(w, r, site, name)
		}
	}
	s.mux.HandleFunc("GET /{$}", page("shop.html"))
	s.mux.HandleFunc("GET /operator", page("operator.html"))
	s.mux.Handle("GET /", files)
	s.mux.Handle("POST /v1/events", o.Collector)
	s.mux.Handle("OPTIONS /v1/events", o.Collector)
	s.mux.Handle("GET /v1/events/ws", o.Collector)
	s.mux.HandleFunc("GET /api/config", s.config)
	s.mux.HandleFunc("GET /api/products", s.products)
	s.mux.HandleFunc("GET /api/profiles/{id}/stream", s.proxy.profiles)
	s.mux.HandleFunc("GET /api/triggers/stream", s.proxy.triggers)
	s.mux.HandleFunc("GET /api/engine/stream", o.Engine.stream)
	s.mux.HandleFunc("POST /engine/webhooks", o.Engine.receive)
	s.mux.HandleFunc("GET /api/operator", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, o.Operator.Snapshot(o.Workers.List()))
	})
	s.mux.HandleFunc("POST /api/workers/{index}/stop", s.stopWorker)
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) config(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"write_key":      s.o.WriteKey,
		"collector":      "", // this origin
		"customers":      s.o.Customers,
		"stale_after_ms": s.o.StaleAfter.Milliseconds(),
	})
}

func (s *Server) products(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.o.Catalog)
}

func (s *Server) stopWorker(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(r.PathValue("index"))
	ws := s.o.Workers.List()
	if err != nil || i < 0 || i >= len(ws) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no worker " + r.PathValue("index")})
		return
	}
	if !ws[i].Running {
		writeJSON(w, http.StatusConflict, map[string]string{"error": ws[i].Name + " is already stopped"})
		return
	}
	if err := s.o.Workers.Stop(i); err != nil {
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	}
	s.o.Logger.Info("journey: worker stopped from the operator view", zap.String("worker", ws[i].Name))
	writeJSON(w, http.StatusAccepted, map[string]string{"stopped": ws[i].Name})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
