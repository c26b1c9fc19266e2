// Package demo runs Weir end to end on one machine: an embedded Kafka
// cluster (franz-go kfake) and schema registry (srfake) unless real ones
// are given, a seeded workload, and workers running the demo pipeline.
//
// The pipeline (see Topology) reads Avro page views, drops bots, enriches
// each view from the products catalog (a global table) and the customers
// table, and counts views per customer in 5-minute windows, all
// exactly-once. Malformed records are mixed in on purpose and must end in
// the dead-letter topic. Every output is checked against a model of the
// workload computed independently of the topology.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/processor"
)

// Config is the demo's configuration. Zero values take the defaults
// written next to each field.
type Config struct {
	Brokers    []string // default: an embedded 3-broker kfake cluster
	Registry   string   // default: an embedded srfake registry
	AppID      string   // default: "weir-demo"
	Workers    int      // default: 2
	Events     int      // default: 20000
	Customers  int      // default: 1000
	Seed       uint64   // default: 1
	BadShare   float64  // share of malformed records, 0 to 1; zero: none
	Partitions int32    // default: 6
	StateDir   string   // default: a temporary directory, removed after
	// TopicPrefix is put before every topic name, so runs can share a
	// cluster. Default: none.
	TopicPrefix string
	Timeout     time.Duration // default: 2m
	Log         *zap.Logger   // default: none
}

// Result is what the demo counted.
type Result struct {
	Events, Enriched, Windows, DeadLetters int
	Elapsed                                time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("demo: events=%d enriched=%d windows=%d dlq=%d elapsed_ms=%d",
		r.Events, r.Enriched, r.Windows, r.DeadLetters, r.Elapsed.Milliseconds())
}

// Run runs the demo and returns what it counted, after checking every
// output against the workload's model.
func Run(ctx context.Context, cfg Config, status io.Writer) (Result, error) {
	cfg = withDefaults(cfg)
	brokers, registry, stopEmbedded, err := Embedded(cfg.Brokers, cfg.Registry, status)
	defer stopEmbedded()
	if err != nil {
		return Result{}, err
	}
	cfg.Brokers, cfg.Registry = brokers, registry
	serdes, err := NewSerdes(cfg.Registry, avro.AutoRegister())
	if err != nil {
		return Result{}, err
	}
	topics := TopicsWithPrefix(cfg.TopicPrefix)
	topo, err := Topology(cfg.AppID, topics, serdes)
	if err != nil {
		return Result{}, err
	}
	if err := CreateTopics(ctx, cfg.Brokers, topics, cfg.Partitions); err != nil {
		return Result{}, err
	}
	start := time.Now()
	w, err := NewWorkload(topics, serdes, WorkloadConfig{
		Seed: cfg.Seed, Events: cfg.Events, Customers: cfg.Customers, Products: 500,
		BadShare: cfg.BadShare, Start: start.Add(-time.Hour).Truncate(time.Minute),
	})
	if err != nil {
		return Result{}, err
	}
	if err := Produce(ctx, cfg.Brokers, append(w.Customers, w.Products...)); err != nil {
		return Result{}, fmt.Errorf("demo: produce tables: %w", err)
	}

	dir := cfg.StateDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "weir-demo-*"); err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(dir)
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make([]error, cfg.Workers)
	for i := range cfg.Workers {
		app, err := processor.New(topo,
			processor.SeedBrokers(cfg.Brokers...),
			processor.StateDir(filepath.Join(dir, fmt.Sprintf("worker-%d", i))),
			processor.InstanceID(fmt.Sprintf("demo-%d", i)),
			processor.Logger(cfg.Log.With(zap.Int("worker", i))),
		)
		if err != nil {
			return Result{}, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := app.Run(wctx); err != nil {
				errs[i] = fmt.Errorf("demo: worker %d: %w", i, err)
			}
		}()
	}
	fmt.Fprintf(status, "demo: %d workers started\n", cfg.Workers)

	// Views go in once the customers table is in, so enrichment does not
	// depend on which partition a worker happened to fetch first.
	checkErr := func() error {
		tctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		if err := WaitCommitted(tctx, cfg.Brokers, cfg.AppID, topics.Customers); err != nil {
			return fmt.Errorf("demo: wait for the customers table: %w", err)
		}
		if err := Produce(tctx, cfg.Brokers, w.Views); err != nil {
			return fmt.Errorf("demo: produce views: %w", err)
		}
		fmt.Fprintf(status, "demo: produced %d page views (%d malformed) for %d customers\n", len(w.Views), w.Malformed, cfg.Customers)
		if err := Check(tctx, cfg.Brokers, cfg.AppID, topics, w, func(s string) { fmt.Fprintln(status, "demo:", s) }); err != nil {
			return fmt.Errorf("demo: check outputs: %w", err)
		}
		return nil
	}()
	stop()
	wg.Wait()
	res := Result{Events: len(w.Views), Enriched: len(w.Enriched), Windows: len(w.Counts), DeadLetters: w.Malformed, Elapsed: time.Since(start)}
	return res, errors.Join(append(errs, checkErr)...)
}

func withDefaults(c Config) Config {
	if c.AppID == "" {
		c.AppID = "weir-demo"
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.Events <= 0 {
		c.Events = 20000
	}
	if c.Customers <= 0 {
		c.Customers = 1000
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Partitions <= 0 {
		c.Partitions = 6
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	return c
}
