package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/weirstream/weir/codec/avro"
)

// sideApp is what the applications beside the workers (weir collect,
// weir webhooks) start from: a logger, the schema registry, and a
// Prometheus registry with the Go and process collectors.
type sideApp struct {
	log  *zap.Logger
	rc   avro.RegistryClient
	reg  *avro.Registry
	prom *prometheus.Registry
}

// newSideApp builds them; the caller syncs log when done.
func newSideApp(verbose bool, registry string, regOpts []avro.HTTPClientOpt) (*sideApp, error) {
	log, err := newLogger(verbose)
	if err != nil {
		return nil, err
	}
	rc, err := avro.NewHTTPRegistryClient(registry, regOpts...)
	if err != nil {
		return nil, fmt.Errorf("-registry: %w", err)
	}
	reg, err := avro.NewRegistry(rc, avro.RegistryLogger(log))
	if err != nil {
		return nil, err
	}
	prom := prometheus.NewRegistry()
	prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &sideApp{log: log, rc: rc, reg: reg, prom: prom}, nil
}

// serve serves api (if not nil) under /v1/, with /metrics and /healthz,
// on ln until ctx ends, then lets requests in progress finish.
func (a *sideApp) serve(ctx context.Context, ln net.Listener, api http.Handler) error {
	mux := http.NewServeMux()
	if api != nil {
		mux.Handle("/v1/", api)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.prom, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: zap.NewStdLog(a.log)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
