package profiledemo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/profile"
)

// ProduceConfig configures Produce. Zero values take the defaults written
// beside.
type ProduceConfig struct {
	Brokers     []string      // required
	Registry    string        // required
	TopicPrefix string        // put before every topic name; default none
	Seed        uint64        // default: 1
	Rate        int           // events per second; default 2000
	Duration    time.Duration // how long to produce; 0: until ctx ends
	Customers   int           // default: 1000
	BadShare    float64       // share of malformed records; zero: none
	Partitions  int32         // of the topics it creates; default 6
	Status      time.Duration // status line interval; default 2s
	TopicsOnly  bool          // create the topics and return
	// TopicWait is how long to retry creating the topics while the
	// cluster comes up (a broker short for the replication factor);
	// default 2m.
	TopicWait time.Duration
}

// ProduceResult counts what Produce sent.
type ProduceResult struct {
	Events    int // profile events, malformed ones included
	Malformed int
}

func (r ProduceResult) String() string {
	return fmt.Sprintf("produce: events=%d malformed=%d", r.Events, r.Malformed)
}

// produceRound is how much of an endless run is generated at a time.
const produceRound = time.Minute

// Produce creates the profiles pipeline's topics where missing (inputs
// and outputs, as Run does) and writes the demo workload to an existing
// cluster: Run's generator without its workers, for workers that run
// elsewhere (weir run). Events are paced at cfg.Rate on their event time.
// With cfg.Duration 0 it produces until ctx ends, a fresh round of the
// generator (seed, seed+1, ...) every minute, and returns what it sent
// with a nil error; records handed to the client before ctx ends are
// still written.
func Produce(ctx context.Context, cfg ProduceConfig, status io.Writer) (ProduceResult, error) {
	var res ProduceResult
	if len(cfg.Brokers) == 0 || cfg.Registry == "" {
		return res, errors.New("produce: brokers and registry are required")
	}
	if cfg.BadShare < 0 || cfg.BadShare > 1 {
		return res, fmt.Errorf("produce: bad share %v: must be between 0 and 1", cfg.BadShare)
	}
	if cfg.Duration < 0 {
		return res, fmt.Errorf("produce: duration %v: give 0 (forever) or more", cfg.Duration)
	}
	forever := cfg.Duration == 0
	d := withDefaults(Config{Brokers: cfg.Brokers, Registry: cfg.Registry, TopicPrefix: cfg.TopicPrefix,
		Seed: cfg.Seed, Rate: cfg.Rate, Duration: cfg.Duration, Customers: cfg.Customers, BadShare: cfg.BadShare,
		Partitions: cfg.Partitions, Status: cfg.Status})
	if cfg.TopicWait <= 0 {
		cfg.TopicWait = 2 * time.Minute
	}
	// The erasure topics too, for workers run with -erasures.
	tp := profile.PrefixedTopics(cfg.TopicPrefix).WithErasures(cfg.TopicPrefix)
	if err := createTopicsWaiting(ctx, d.Brokers, tp, d.Partitions, cfg.TopicWait, status); err != nil {
		return res, err
	}
	if cfg.TopicsOnly {
		fmt.Fprintf(status, "produce: topics of the profiles pipeline exist (prefix %q)\n", cfg.TopicPrefix)
		return res, nil
	}
	rc, err := avro.NewHTTPRegistryClient(d.Registry)
	if err != nil {
		return res, err
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		return res, err
	}
	serdes, err := profile.AvroSerdes(reg, avro.AutoRegister())
	if err != nil {
		return res, err
	}
	round := d.Duration
	if forever {
		round = produceRound
	}
	until := "until stopped"
	if !forever {
		until = "for " + d.Duration.String()
	}
	fmt.Fprintf(status, "produce: %d events/s to %s, %s and %s %s\n", d.Rate, tp.Views, tp.Purchases, tp.Tickets, until)
	for i := uint64(0); ; i++ {
		rcfg := d
		rcfg.Seed = d.Seed + i
		recs := pacedWorkload(rcfg.Seed, d.Rate, round, d.Customers, time.Now())
		s, err := generate(ctx, rcfg, serdes, recs, nil, nil, status)
		res.Events += s.events
		res.Malformed += s.malformed
		if forever && ctx.Err() != nil {
			return res, nil
		}
		if err != nil || !forever {
			return res, err
		}
	}
}

// createTopicsWaiting is createTopics, retried for up to wait while the
// cluster is not ready for them (a fresh cluster with fewer live brokers
// than the default replication factor refuses).
func createTopicsWaiting(ctx context.Context, brokers []string, tp profile.Topics, partitions int32, wait time.Duration, status io.Writer) error {
	deadline := time.Now().Add(wait)
	for {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := createTopics(cctx, brokers, tp, partitions, false)
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		fmt.Fprintf(status, "produce: %v; retrying\n", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
