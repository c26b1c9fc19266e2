// Package demo runs Weir end to end on one machine: an embedded Kafka
// cluster (franz-go kfake) and schema registry (srfake) unless real ones
// are given, a seeded event generator, and workers running a topology.
//
// Until the personalization application lands, the demo topology is the
// smallest real pipeline: Avro page views in, bot traffic filtered out,
// human views copied to another topic and counted per customer (a Pebble
// store with a changelog), all exactly-once. Malformed records are mixed
// in on purpose and must end in the dead-letter topic.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"go.uber.org/zap"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
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
	// TopicPrefix is put before every topic name, so runs can share a
	// cluster. Default: none.
	TopicPrefix string
	StateDir    string // default: a temporary directory, removed after
	Timeout     time.Duration
	Log         *zap.Logger
}

// Result is what the demo counted.
type Result struct {
	Events, Humans, Copied, Customers, DeadLetters int
	Elapsed                                        time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("demo: events=%d humans=%d copied=%d customers=%d dlq=%d elapsed_ms=%d",
		r.Events, r.Humans, r.Copied, r.Customers, r.DeadLetters, r.Elapsed.Milliseconds())
}

// Topics of the demo.
const (
	TopicViews  = events.TopicWebBrowsing
	TopicHumans = "page_views_human"
	TopicCounts = "views_per_customer"
)

// Topology builds the demo topology, its topics named with prefix.
func Topology(appID, prefix string, views codec.Serde[events.PageView]) (*topology.Topology, error) {
	b := topology.New(appID)
	s := topology.StreamOf(b, prefix+TopicViews, codec.String(), views)
	humans := s.Filter("humans", func(_ string, v events.PageView) bool { return !v.Bot })
	humans.To(prefix+TopicHumans, codec.String(), views)
	topology.GroupByKey(humans, codec.String(), views).Count("views").
		ToStream("views-changes").To(prefix+TopicCounts, codec.String(), codec.Int64())
	return b.Build()
}

// Run runs the demo and returns what it counted, after checking every
// count against the generator's own tally.
func Run(ctx context.Context, cfg Config, status io.Writer) (Result, error) {
	cfg = withDefaults(cfg)
	log := cfg.Log
	if len(cfg.Brokers) == 0 {
		c, err := kfake.NewCluster(kfake.NumBrokers(3))
		if err != nil {
			return Result{}, fmt.Errorf("demo: embedded kafka: %w", err)
		}
		defer c.Close()
		cfg.Brokers = c.ListenAddrs()
		fmt.Fprintf(status, "demo: embedded Kafka at %s\n", strings.Join(cfg.Brokers, ","))
	}
	if cfg.Registry == "" {
		reg := srfake.New()
		defer reg.Close()
		cfg.Registry = reg.URL()
		fmt.Fprintf(status, "demo: embedded schema registry at %s\n", cfg.Registry)
	}
	rc, err := codec.NewHTTPRegistryClient(cfg.Registry)
	if err != nil {
		return Result{}, err
	}
	reg, err := codec.NewRegistry(rc)
	if err != nil {
		return Result{}, err
	}
	views, err := events.PageViewSerde(reg, codec.AutoRegister())
	if err != nil {
		return Result{}, err
	}
	topo, err := Topology(cfg.AppID, cfg.TopicPrefix, views)
	if err != nil {
		return Result{}, err
	}

	pre := cfg.TopicPrefix
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(pre+TopicViews))
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, t := range []string{pre + TopicViews, pre + TopicHumans, pre + TopicCounts} {
		resp, err := adm.CreateTopic(ctx, cfg.Partitions, -1, nil, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
			return Result{}, fmt.Errorf("demo: create topic %s: %w", t, err)
		}
	}

	// Generate and tally.
	start := time.Now()
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	res := Result{Events: cfg.Events}
	wantCounts := map[string]int64{}
	recs := make([]*kgo.Record, 0, cfg.Events)
	at := time.Now().Add(-time.Hour)
	for i := range cfg.Events {
		at = at.Add(time.Duration(rng.IntN(200)) * time.Millisecond)
		if rng.Float64() < cfg.BadShare {
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprintf("c-%06d", rng.IntN(cfg.Customers))), Value: []byte("not avro"), Timestamp: at})
			res.DeadLetters++
			continue
		}
		v := events.SamplePageView(rng, at, cfg.Customers)
		v.Bot = rng.IntN(10) == 0
		b, err := views.Encode(pre+TopicViews, v)
		if err != nil {
			return Result{}, fmt.Errorf("demo: encode event %d: %w", i, err)
		}
		if !v.Bot {
			res.Humans++
			wantCounts[v.CustomerID]++
		}
		recs = append(recs, &kgo.Record{Key: []byte(v.CustomerID), Value: b, Timestamp: at})
	}
	res.Customers = len(wantCounts)
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return Result{}, fmt.Errorf("demo: produce: %w", err)
	}
	fmt.Fprintf(status, "demo: produced %d events (%d malformed) for %d customers\n", cfg.Events, res.DeadLetters, cfg.Customers)

	// Workers.
	dir := cfg.StateDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "weir-demo-*"); err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(dir)
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make([]error, cfg.Workers)
	for i := range cfg.Workers {
		app, err := processor.New(topo,
			processor.SeedBrokers(cfg.Brokers...),
			processor.StateDir(filepath.Join(dir, fmt.Sprintf("worker-%d", i))),
			processor.InstanceID(fmt.Sprintf("demo-%d", i)),
			processor.Logger(log.With(zap.Int("worker", i))),
		)
		if err != nil {
			stop()
			return Result{}, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = app.Run(wctx)
		}()
	}
	fmt.Fprintf(status, "demo: %d workers started\n", cfg.Workers)

	checkErr := verify(ctx, cfg, wantCounts, &res, status)
	stop()
	wg.Wait()
	res.Elapsed = time.Since(start)
	if err := errors.Join(append(errs, checkErr)...); err != nil {
		return res, err
	}
	return res, nil
}

// verify reads the outputs with read_committed until the counts, the
// copies and the dead letters all match the generator's tally.
func verify(ctx context.Context, cfg Config, want map[string]int64, res *Result, status io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	dlq := cfg.AppID + "-dlq"
	humans, counts := cfg.TopicPrefix+TopicHumans, cfg.TopicPrefix+TopicCounts
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumeTopics(humans, counts, dlq),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	got := map[string]int64{}
	done := 0
	copied, dead := 0, 0
	next := time.Now().Add(2 * time.Second)
	for done < len(want) || copied < res.Humans || dead < res.DeadLetters {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("demo: outputs incomplete after %v: customers %d/%d, copied %d/%d, dead letters %d/%d",
				cfg.Timeout, done, len(want), copied, res.Humans, dead, res.DeadLetters)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = errors.Join(ferr, fmt.Errorf("read %s/%d: %w", t, p, err))
			}
		})
		if ferr != nil {
			return ferr
		}
		for _, r := range fs.Records() {
			switch r.Topic {
			case humans:
				copied++
			case dlq:
				dead++
			case counts:
				n, err := codec.Int64().Decode(r.Topic, r.Value)
				if err != nil {
					return fmt.Errorf("demo: count record: %w", err)
				}
				k := string(r.Key)
				if n > want[k] {
					return fmt.Errorf("demo: customer %s counted %d views, only %d were sent: duplicate processing", k, n, want[k])
				}
				if got[k] < want[k] && n == want[k] {
					done++
				}
				got[k] = max(got[k], n)
			}
		}
		if time.Now().After(next) {
			fmt.Fprintf(status, "demo: customers complete %d/%d, copied %d/%d, dead letters %d/%d\n", done, len(want), copied, res.Humans, dead, res.DeadLetters)
			next = time.Now().Add(2 * time.Second)
		}
	}
	if copied != res.Humans || dead != res.DeadLetters {
		return fmt.Errorf("demo: copied %d of %d humans, %d of %d dead letters", copied, res.Humans, dead, res.DeadLetters)
	}
	res.Copied = copied
	return nil
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
