// Command weir runs Weir: the embedded demo, and tools around it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/internal/profiledemo"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology"
)

const usage = `weir: a stateful stream processor for Kafka

Usage:
  weir demo [flags]       run the demo pipeline on an embedded Kafka cluster
  weir run [flags]        run one worker of a pipeline (-pipeline views|profiles) against a cluster
  weir produce [flags]    create the profiles pipeline's topics and produce demo events to a cluster
  weir collect [flags]    take events from browsers and apps over HTTP and write them to Kafka
  weir webhooks [flags]   deliver profile triggers to HTTP endpoints (signed, retried, dead-lettered)
  weir reset [flags]      reset an application: input offsets back, internal topics and local state deleted (-dry-run)
  weir dlq list|replay    list dead letters by kind, or replay selected ones to their source topics after a fix
  weir backfill [flags]   rebuild an application's state and outputs from history beside the live workers; -promote switches over (-dry-run)
  weir erase <id>...      erase customers (GDPR, CCPA) from a profiles pipeline run with -erasures, and wait for the audit (-dry-run)
  weir describe           print the demo topology
Run 'weir demo -h' for the demo's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal the default action returns: a second
	// Ctrl-C ends a demo that is still checking its outputs.
	context.AfterFunc(ctx, stop)
	var err error
	switch os.Args[1] {
	case "demo":
		err = runDemo(ctx, os.Args[2:])
	case "run":
		err = runWorker(ctx, os.Args[2:])
	case "produce":
		err = runProduce(ctx, os.Args[2:])
	case "collect":
		err = runCollect(ctx, os.Args[2:])
	case "webhooks":
		err = runWebhooks(ctx, os.Args[2:])
	case "reset":
		err = runReset(ctx, os.Args[2:], os.Stdout)
	case "dlq":
		err = runDLQ(ctx, os.Args[2:], os.Stdout)
	case "backfill":
		err = runBackfill(ctx, os.Args[2:], os.Stdout)
	case "erase":
		err = runErase(ctx, os.Args[2:], os.Stdout)
	case "describe":
		err = describe()
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "weir: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "weir:", err)
		os.Exit(1)
	}
}

func runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	pipeline := fs.String("pipeline", "profiles", "which pipeline: profiles (the personalization app) or views (enrichment and windowed counts)")
	brokers := fs.String("brokers", "", "comma-separated Kafka brokers (default: embedded cluster)")
	registry := fs.String("registry", "", "schema registry URL (default: embedded registry)")
	workers := fs.Int("workers", 2, "workers to run in this process")
	app := fs.String("app", "", "application id (default: weir-profiles, or weir-demo for -pipeline views)")
	prefix := fs.String("topic-prefix", "", "put before every topic name, so runs can share a cluster")
	seed := fs.Uint64("seed", 1, "generator seed")
	rate := fs.Int("rate", 2000, "profiles: events per second")
	httpAddr := fs.String("http", "127.0.0.1:8080", "profiles: worker 0's HTTP address (the others take free ports)")
	web := fs.String("web", "127.0.0.1:8000", "profiles: address of the browser demo (shop, live profile, operator view); empty: none")
	duration := fs.Duration("duration", 0, "profiles: how long to generate events, then check and stop; 0: until Ctrl-C")
	cartIdle := fs.Duration("cart-idle", time.Minute, "profiles: idle time before cart_abandoned fires (the application's default is 30m; shorter, so the demo shows it)")
	n := fs.Int("events", 20000, "views: page view events to generate")
	customers := fs.Int("customers", 1000, "distinct customers")
	bad := fs.Float64("bad", 0.01, "share of malformed records (they must end in the dead-letter topic)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up if outputs are not complete by then")
	verbose := fs.Bool("v", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bad < 0 || *bad > 1 {
		return fmt.Errorf("-bad %v: must be between 0 and 1", *bad)
	}
	log, err := newLogger(*verbose)
	if err != nil {
		return err
	}
	defer log.Sync()
	if !*verbose {
		log = log.WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))
	}
	var bs []string
	if *brokers != "" {
		bs = strings.Split(*brokers, ",")
	}
	switch *pipeline {
	case "profiles":
		res, err := profiledemo.Run(ctx, profiledemo.Config{
			Brokers: bs, Registry: *registry, AppID: *app, TopicPrefix: *prefix, Workers: *workers, Seed: *seed, Rate: *rate,
			Duration: *duration, Customers: *customers, BadShare: *bad, Timeout: *timeout, Log: log,
			HTTP: *httpAddr, Web: *web, CartIdle: *cartIdle,
		}, os.Stderr)
		if err != nil {
			return err
		}
		fmt.Println(res)
	case "views":
		res, err := demo.Run(ctx, demo.Config{
			Brokers: bs, Registry: *registry, AppID: *app, TopicPrefix: *prefix, Workers: *workers, Events: *n, Customers: *customers,
			Seed: *seed, BadShare: *bad, Timeout: *timeout, Log: log,
		}, os.Stderr)
		if err != nil {
			return err
		}
		fmt.Println(res)
	default:
		return fmt.Errorf("-pipeline %q: use profiles or views", *pipeline)
	}
	return nil
}

// runWorker runs one worker until SIGINT or SIGTERM, then commits,
// closes its state and leaves the group.
func runWorker(ctx context.Context, args []string) error {
	f, err := parseRunFlags(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if f.brokers == "" || f.registry == "" {
		return fmt.Errorf("run: -brokers and -registry are required")
	}
	if f.parallelism < 0 {
		return fmt.Errorf("run: -parallelism %d: give at least 1, or 0 for GOMAXPROCS (%d here)", f.parallelism, runtime.GOMAXPROCS(0))
	}
	if f.pprofAddr != "" {
		ps, err := listenPprof(f.pprofAddr)
		if err != nil {
			return fmt.Errorf("run: %w", err)
		}
		defer ps.stop()
		ps.start()
	}
	co, err := f.conn.options()
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	log, err := newLogger(f.verbose)
	if err != nil {
		return err
	}
	defer log.Sync()
	var pcfg profile.Config // the profiles pipeline's
	var topo *topology.Topology
	if f.pipeline == "profiles" {
		app := f.app
		if app == "" {
			app = defaultAppID(f.pipeline)
		}
		if pcfg, err = profilesConfig(ctx, app, f.prefix, f.registry, f.pipe, nil, co.registry...); err == nil {
			topo, err = profile.Topology(pcfg)
		}
	} else {
		topo, err = pipelineTopology(ctx, f.pipeline, f.app, f.prefix, f.registry, f.pipe, co.registry...)
	}
	if err != nil {
		return err
	}
	progress := newProgress(os.Stdout, newRestoreReporter(log))
	hs, err := f.http.setup(os.Getenv, log)
	if err != nil {
		return err
	}
	var metrics processor.Metrics = progress
	var ln net.Listener
	promReg := prometheus.NewRegistry()
	// Memory, CPU and file descriptors, as every Go exporter has them.
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if hs != nil {
		if f.pipeline != "profiles" {
			return fmt.Errorf("-http serves the profiles pipeline's API: use it with -pipeline profiles")
		}
		if ln, err = hs.bind(); err != nil {
			return err
		}
		defer ln.Close()
		metrics = workerMetrics(progress, promReg)
	}
	opts := []processor.Opt{
		processor.WithMetrics(metrics),
		processor.SeedBrokers(splitList(f.brokers)...),
		processor.CommitInterval(f.commit),
		processor.SessionTimeout(f.session),
		processor.Logger(log),
		processor.InputPartitioner(f.partitioner),
	}
	opts = append(opts, co.processor...)
	if f.parallelism != 0 {
		opts = append(opts, processor.Parallelism(f.parallelism))
	}
	if f.stateDir != "" {
		opts = append(opts, processor.StateDir(f.stateDir))
	}
	if f.instance != "" {
		opts = append(opts, processor.InstanceID(f.instance))
	}
	if f.static {
		opts = append(opts, processor.StaticMember())
	}
	opts = append(opts, processor.Standbys(f.standbys), processor.Warmup(f.warmups, f.lag))
	if f.atLeastOnce {
		opts = append(opts, processor.ProcessingGuarantee(processor.AtLeastOnce))
	}
	if hs != nil {
		opts = append(opts, processor.AdvertisedAddress(hs.advertise), processor.KafkaClientMetrics(promReg))
	}
	w, err := processor.New(topo, opts...)
	if err != nil {
		return err
	}
	if hs != nil {
		if pcfg.Topics.Erasures != "" {
			pr, err := processor.NewProducer(append([]processor.Opt{processor.SeedBrokers(splitList(f.brokers)...),
				processor.Logger(log), processor.InputPartitioner(f.partitioner)}, co.processor...)...)
			if err != nil {
				return err
			}
			defer pr.Close()
			hs.opts.Erase = submitErasure(pcfg, pr)
		}
		api := hs.start(ctx, ln, w, promReg, f.registry, co.registry, profile.PrefixedTopics(f.prefix), log)
		defer api.stop()
	}
	fmt.Fprintf(os.Stderr, "weir: worker of %s (%s pipeline) running\n", topo.AppID(), f.pipeline)
	err = w.Run(ctx)
	logStop(ctx, log, err, progress.final(), f.static)
	return err
}

func newLogger(verbose bool) (*zap.Logger, error) {
	level := zapcore.InfoLevel
	if verbose {
		level = zapcore.DebugLevel
	}
	lc := zap.NewProductionConfig()
	lc.Encoding = "console"
	lc.EncoderConfig = logEncoderConfig()
	lc.Level = zap.NewAtomicLevelAt(level)
	lc.DisableStacktrace = true
	return lc.Build()
}

// logEncoderConfig prints ISO-8601 times: operators read them next to
// broker logs, and epoch floats are unreadable there.
func logEncoderConfig() zapcore.EncoderConfig {
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	return ec
}

func describe() error {
	// Describe needs serdes, not a registry connection: nothing is
	// encoded, so an address nothing listens on will do.
	serdes, err := demo.NewSerdes("http://127.0.0.1:0")
	if err != nil {
		return err
	}
	topo, err := demo.Topology("weir-demo", demo.TopicsWithPrefix(""), serdes)
	if err != nil {
		return err
	}
	fmt.Print(topo.Describe())
	return nil
}
