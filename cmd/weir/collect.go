package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/collect"
	"github.com/weirstream/weir/processor"
)

// runCollect serves the event collector (package collect) until stopped.
// Every flag also reads its WEIR_* variable, like weir run's.
func runCollect(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("collect", flag.ContinueOnError)
	listen := fs.String("listen", ":8090", "address of the collector's HTTP API, /metrics and /healthz")
	brokers := fs.String("brokers", "", "comma-separated Kafka brokers (required)")
	registry := fs.String("registry", "", "schema registry URL (required)")
	prefix := fs.String("topic-prefix", "", "prefix of the profiles pipeline's topic names the events go to")
	keys := fs.String("write-keys", "", "comma-separated site=key pairs; a request must carry one of the keys (required; prefer WEIR_WRITE_KEYS)")
	origins := fs.String("allowed-origins", "", "comma-separated browser origins (scheme://host[:port]) allowed to send events, or *")
	txnID := fs.String("transactional-id", "", "Kafka transactional id, unique per collector (default weir-collector-<host>)")
	register := fs.Bool("register-schemas", false, "register the events package's schemas under topics that have none (demo and first set-up)")
	maxBatch := fs.Int("max-batch", 500, "most events in one request")
	maxBody := fs.Int64("max-body", 512<<10, "most bytes in one request body")
	maxPending := fs.Int("max-pending", 20000, "most events waiting for Kafka; past it requests get 429")
	ackTimeout := fs.Duration("ack-timeout", 10*time.Second, "how long a request waits for its transaction before 503")
	dedupWindow := fs.Duration("dedup-window", time.Hour, "how long an acknowledged event id is remembered, so a retry writes nothing")
	rate := fs.Float64("rate", 200, "events per second one client (site and IP address) may send")
	burst := fs.Int("burst", 1000, "burst of -rate")
	forwarded := fs.Bool("trust-forwarded-for", false, "take the client address from X-Forwarded-For (behind a proxy)")
	maxAge := fs.Duration("max-event-age", 7*24*time.Hour, "event times further back are clamped to it")
	verbose := fs.Bool("v", false, "debug logging")
	conn := addConnectFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := applyConfig(fs, os.Getenv); err != nil {
		return err
	}
	if *brokers == "" || *registry == "" || *keys == "" {
		return errors.New("collect: -brokers, -registry and -write-keys are required")
	}
	writeKeys, err := parseWriteKeys(*keys)
	if err != nil {
		return fmt.Errorf("collect: -write-keys: %w", err)
	}
	co, err := conn.options()
	if err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	log, err := newLogger(*verbose)
	if err != nil {
		return err
	}
	defer log.Sync()
	rc, err := avro.NewHTTPRegistryClient(*registry, co.registry...)
	if err != nil {
		return fmt.Errorf("collect: -registry: %w", err)
	}
	reg, err := avro.NewRegistry(rc, avro.RegistryLogger(log))
	if err != nil {
		return err
	}
	if *register {
		if err := registerMissing(ctx, reg, rc, *prefix, log); err != nil {
			return err
		}
	}
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	col, err := collect.New(ctx, collect.Options{
		Kafka:    append(co.processor, processor.SeedBrokers(splitList(*brokers)...)),
		Registry: reg, Routes: collect.DefaultRoutes(*prefix),
		WriteKeys: writeKeys, AllowedOrigins: splitList(*origins), TransactionalID: *txnID,
		MaxBatchEvents: *maxBatch, MaxBodyBytes: *maxBody, MaxPendingEvents: *maxPending,
		AckTimeout: *ackTimeout, DedupWindow: *dedupWindow, RatePerClient: *rate, RateBurst: *burst,
		TrustForwardedFor: *forwarded, MaxEventAge: *maxAge, Logger: log, Metrics: promReg,
	})
	if err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	defer col.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("collect: -listen: %w", err)
	}
	return serveCollector(ctx, ln, col, promReg, log)
}

// serveCollector serves col's API with /metrics and /healthz on ln until
// ctx ends, then lets requests in progress finish.
func serveCollector(ctx context.Context, ln net.Listener, col *collect.Collector, promReg *prometheus.Registry, log *zap.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/v1/", col.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: zap.NewStdLog(log)}
	log.Info("collector listening", zap.String("addr", ln.Addr().String()))
	fmt.Printf("collector: http://%s/v1/events\n", ln.Addr())
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

// parseWriteKeys reads site=key pairs.
func parseWriteKeys(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range splitList(s) {
		site, key, ok := strings.Cut(pair, "=")
		if !ok || site == "" || key == "" {
			return nil, fmt.Errorf("%q: write site=key", pair)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("key of site %q given twice", site)
		}
		out[key] = site
	}
	return out, nil
}

// registerMissing registers the events package's schemas under the
// default routes' subjects that have none yet; it never adds a version
// to a subject that has one.
func registerMissing(ctx context.Context, reg *avro.Registry, rc avro.RegistryClient, prefix string, log *zap.Logger) error {
	for topic, schema := range collect.DefaultSchemas() {
		subject := prefix + topic + "-value"
		_, _, err := reg.Latest(ctx, subject)
		if err == nil {
			continue
		}
		if !errors.Is(err, codec.ErrNotRegistered) {
			return fmt.Errorf("collect: -register-schemas: %w", err)
		}
		id, err := rc.Register(ctx, subject, schema)
		if err != nil {
			return fmt.Errorf("collect: -register-schemas: %s: %w", subject, err)
		}
		log.Info("registered schema", zap.String("subject", subject), zap.Uint32("id", id))
	}
	return nil
}
