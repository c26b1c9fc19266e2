package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/weirstream/weir/internal/profiledemo"
)

// runProduce writes the profiles pipeline's demo events to an existing
// cluster, with no worker in this process: the producer of the compose
// stack, next to workers started with weir run. Flags default from
// WEIR_* variables like weir run's (-brokers: WEIR_BROKERS).
func runProduce(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("produce", flag.ExitOnError)
	brokers := fs.String("brokers", "", "comma-separated Kafka brokers (required)")
	registry := fs.String("registry", "", "schema registry URL (required)")
	prefix := fs.String("topic-prefix", "", "prefix of the topic names")
	rate := fs.Int("rate", 2000, "events per second")
	duration := fs.Duration("duration", 0, "how long to produce; 0: until stopped (SIGINT or SIGTERM)")
	customers := fs.Int("customers", 1000, "distinct customers")
	bad := fs.Float64("bad", 0.01, "share of malformed records (the workers dead-letter them)")
	seed := fs.Uint64("seed", 1, "generator seed")
	partitions := fs.Int("partitions", 6, "partitions of the topics it creates (existing topics are kept as they are)")
	topicsOnly := fs.Bool("topics-only", false, "create the pipeline's topics where missing, then exit")
	topicWait := fs.Duration("topic-wait", 2*time.Minute, "keep retrying topic creation this long while the cluster starts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := applyConfig(fs, os.Getenv); err != nil { // every flag from WEIR_*, as weir run's
		return err
	}
	if *brokers == "" || *registry == "" {
		return fmt.Errorf("produce: -brokers and -registry are required")
	}
	if *partitions < 1 || *partitions > 1<<20 {
		return fmt.Errorf("produce: -partitions %d: give at least 1", *partitions)
	}
	res, err := profiledemo.Produce(ctx, profiledemo.ProduceConfig{
		Brokers: splitList(*brokers), Registry: *registry, TopicPrefix: *prefix,
		Seed: *seed, Rate: *rate, Duration: *duration, Customers: *customers, BadShare: *bad,
		Partitions: int32(*partitions), TopicsOnly: *topicsOnly, TopicWait: *topicWait,
	}, os.Stderr)
	if err != nil {
		return err
	}
	if !*topicsOnly {
		fmt.Println(res)
	}
	return nil
}
