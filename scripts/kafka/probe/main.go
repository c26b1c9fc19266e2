// Command probe waits until a Kafka cluster answers metadata requests with at
// least the wanted number of live brokers and a known controller. It is used
// by scripts/kafka.sh; it is not part of Weir.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	bootstrap := flag.String("bootstrap", "", "comma-separated host:port list")
	want := flag.Int("brokers", 1, "number of live brokers to wait for")
	timeout := flag.Duration("timeout", 90*time.Second, "give up after this long")
	flag.Parse()
	if *bootstrap == "" {
		fmt.Fprintln(os.Stderr, "probe: -bootstrap is required")
		os.Exit(2)
	}
	if err := run(strings.Split(*bootstrap, ","), *want, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func run(seeds []string, want int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		// Fail each attempt fast so the loop, not the client, owns the retries.
		kgo.RequestRetries(0),
		kgo.DialTimeout(time.Second),
	)
	if err != nil {
		return err
	}
	defer cl.Close()

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		last = check(ctx, cl, want)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster %v not ready after %v: %w", seeds, timeout, last)
		case <-tick.C:
		}
	}
}

// check asks every live broker for metadata itself: a broker that was just
// kill -9'd stays listed until its session times out, and a restarted one
// must serve requests, not merely be registered. Each call is a real request:
// kadm.BrokerMetadata answers from the client's cache and misses restarts.
func check(ctx context.Context, cl *kgo.Client, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ids, cluster, err := brokers(ctx, cl.Request)
	if err != nil {
		return err
	}
	if len(ids) < want {
		return fmt.Errorf("%d of %d brokers live: %v", len(ids), want, ids)
	}
	for _, id := range ids {
		seen, _, err := brokers(ctx, cl.Broker(int(id)).Request)
		if err != nil {
			return fmt.Errorf("broker %d: %w", id, err)
		}
		if len(seen) < want {
			return fmt.Errorf("broker %d sees %d of %d brokers: %v", id, len(seen), want, seen)
		}
	}
	fmt.Fprintf(os.Stderr, "probe: cluster %s ready: brokers %v\n", cluster, ids)
	return nil
}

type requestFn func(context.Context, kmsg.Request) (kmsg.Response, error)

// brokers returns the sorted live broker IDs and cluster ID in one metadata
// response, or an error if there is no controller yet.
func brokers(ctx context.Context, do requestFn) ([]int32, string, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // brokers only
	r, err := do(ctx, req)
	if err != nil {
		return nil, "", err
	}
	resp, ok := r.(*kmsg.MetadataResponse)
	if !ok {
		return nil, "", fmt.Errorf("unexpected response type %T", r)
	}
	if resp.ControllerID < 0 {
		return nil, "", errors.New("no controller yet")
	}
	ids := make([]int32, 0, len(resp.Brokers))
	for _, b := range resp.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	cluster := ""
	if resp.ClusterID != nil {
		cluster = *resp.ClusterID
	}
	return ids, cluster, nil
}
