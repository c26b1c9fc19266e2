package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/weirstream/weir/collect"
	"github.com/weirstream/weir/processor"
)

// collectFlags are weir collect's flags.
type collectFlags struct {
	listen, brokers, registry, prefix, keys, origins, txnID string
	register, forwarded, verbose                            bool
	maxBatch, maxPending, burst, producers                  int
	maxBody                                                 int64
	ackTimeout, dedupWindow, maxAge                         time.Duration
	rate                                                    float64
	conn                                                    *connectFlags
}

// parseCollectFlags reads weir collect's flags, each also from its
// WEIR_* variable (getenv), and checks the required ones.
func parseCollectFlags(args []string, getenv func(string) string) (*collectFlags, error) {
	fs, f := collectFlagSet()
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := applyConfig(fs, getenv); err != nil {
		return nil, err
	}
	if f.brokers == "" || f.registry == "" || f.keys == "" {
		return nil, errors.New("collect: -brokers, -registry and -write-keys are required")
	}
	return f, nil
}

func collectFlagSet() (*flag.FlagSet, *collectFlags) {
	f := &collectFlags{}
	fs := flag.NewFlagSet("collect", flag.ContinueOnError)
	fs.StringVar(&f.listen, "listen", ":8090", "address of the collector's HTTP API, /metrics and /healthz")
	fs.StringVar(&f.brokers, "brokers", "", "comma-separated Kafka brokers (required)")
	fs.StringVar(&f.registry, "registry", "", "schema registry URL (required)")
	fs.StringVar(&f.prefix, "topic-prefix", "", "prefix of the profiles pipeline's topic names the events go to")
	fs.StringVar(&f.keys, "write-keys", "", "comma-separated site=key pairs; a request must carry one of the keys (required; prefer WEIR_WRITE_KEYS)")
	fs.StringVar(&f.origins, "allowed-origins", "", "comma-separated browser origins (scheme://host[:port]) allowed to send events, or *")
	fs.StringVar(&f.txnID, "transactional-id", "", "Kafka transactional id prefix, unique per collector; producer i uses <id>-i (default weir-collector-<host>)")
	fs.IntVar(&f.producers, "producers", 4, "transactional producers writing at once (while one commits, the next takes requests)")
	fs.BoolVar(&f.register, "register-schemas", false, "register the events package's schemas under topics that have none (demo and first set-up)")
	fs.IntVar(&f.maxBatch, "max-batch", 500, "most events in one request")
	fs.Int64Var(&f.maxBody, "max-body", 512<<10, "most bytes in one request body")
	fs.IntVar(&f.maxPending, "max-pending", 20000, "most events waiting for Kafka; past it requests get 429")
	fs.DurationVar(&f.ackTimeout, "ack-timeout", 10*time.Second, "how long a transaction may take before its requests get 503")
	fs.DurationVar(&f.dedupWindow, "dedup-window", time.Hour, "how long an acknowledged event id is remembered, so a retry writes nothing")
	fs.Float64Var(&f.rate, "rate", 200, "events per second one client (site and IP address) may send")
	fs.IntVar(&f.burst, "burst", 1000, "burst of -rate")
	fs.BoolVar(&f.forwarded, "trust-forwarded-for", false, "take the client address from X-Forwarded-For's last entry (behind a proxy)")
	fs.DurationVar(&f.maxAge, "max-event-age", 7*24*time.Hour, "event times further back are clamped to it")
	fs.BoolVar(&f.verbose, "v", false, "debug logging")
	f.conn = addConnectFlags(fs)
	return fs, f
}

// runCollect serves the event collector (package collect) until stopped.
func runCollect(ctx context.Context, args []string) error {
	f, err := parseCollectFlags(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	writeKeys, err := parseWriteKeys(f.keys)
	if err != nil {
		return fmt.Errorf("collect: -write-keys: %w", err)
	}
	co, err := f.conn.options()
	if err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	app, err := newSideApp(f.verbose, f.registry, co.registry)
	if err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	defer app.log.Sync()
	if f.register {
		// It never adds a version to a subject that has one.
		subjects, err := collect.RegisterDefaultSchemas(ctx, app.reg, app.rc, f.prefix)
		for _, s := range subjects {
			app.log.Info("registered schema", zap.String("subject", s))
		}
		if err != nil {
			return err
		}
	}
	col, err := collect.New(ctx, collect.Options{
		Kafka:    append(co.processor, processor.SeedBrokers(splitList(f.brokers)...)),
		Registry: app.reg, Routes: collect.DefaultRoutes(f.prefix),
		WriteKeys: writeKeys, AllowedOrigins: splitList(f.origins), TransactionalID: f.txnID, Producers: f.producers,
		MaxBatchEvents: f.maxBatch, MaxBodyBytes: f.maxBody, MaxPendingEvents: f.maxPending,
		AckTimeout: f.ackTimeout, DedupWindow: f.dedupWindow, RatePerClient: f.rate, RateBurst: f.burst,
		TrustForwardedFor: f.forwarded, MaxEventAge: f.maxAge, Logger: app.log, Metrics: app.prom,
	})
	if err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	defer col.Close() // after the server's shutdown: requests in progress get their answers
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("collect: -listen: %w", err)
	}
	app.log.Info("collector listening", zap.String("addr", ln.Addr().String()))
	fmt.Printf("collector: http://%s/v1/events\n", ln.Addr())
	return app.serve(ctx, ln, col.Handler())
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
