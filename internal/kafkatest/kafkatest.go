// Package kafkatest gives a test a Kafka cluster and a schema registry.
//
// With KAFKA_BROKERS set (comma-separated), tests run against that real
// cluster (tier 3); otherwise each test gets an in-process franz-go kfake
// cluster of three brokers (tier 2). The registry is always franz-go's
// srfake, a real HTTP server. The same test code runs on both tiers, so
// every test must use its own topic and group names (see Cluster.Name).
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// EnvBrokers names the environment variable that selects a real cluster.
const EnvBrokers = "KAFKA_BROKERS"

// EnvBrokerLog names the variable that points at the real broker's log,
// printed when a tier-3 test cannot reach the broker.
const EnvBrokerLog = "KAFKA_BROKER_LOG"

// Cluster is a running Kafka cluster and schema registry for one test.
type Cluster struct {
	// Brokers are the seed brokers (host:port).
	Brokers []string
	// Registry is the schema registry's base URL.
	Registry string
	// Real reports whether this is a real Apache Kafka cluster.
	Real bool
	// Fake is the in-process cluster on tier 2, nil on tier 3. Tests that
	// inject faults or force compaction use it and skip that part on tier 3.
	Fake *kfake.Cluster

	t      testing.TB
	suffix string
	admin  *kadm.Client
	// opts are the connection options of the harness's own clients
	// (TLS and SASL on a secured kfake cluster).
	opts []kgo.Opt
}

// Tier returns "kfake" or "kafka", for test logs.
func (c *Cluster) Tier() string {
	if c.Real {
		return "kafka"
	}
	return "kfake"
}

// New starts (or connects to) a cluster and a registry. Everything is
// closed by t.Cleanup. On tier 3 an unreachable broker fails the test; it
// never skips, so CI cannot go green without the real broker.
func New(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	return newCluster(t, opts, nil)
}

// newCluster is New with the options of the harness's own clients.
func newCluster(t testing.TB, opts []kfake.Opt, clientOpts []kgo.Opt) *Cluster {
	t.Helper()
	c := &Cluster{t: t, suffix: randSuffix(t), opts: clientOpts}

	reg := srfake.New()
	t.Cleanup(reg.Close)
	c.Registry = reg.URL()

	if env := strings.TrimSpace(os.Getenv(EnvBrokers)); env != "" {
		c.Real = true
		c.Brokers = strings.Split(env, ",")
	} else {
		base := []kfake.Opt{
			kfake.NumBrokers(3),
			kfake.BrokerConfigs(map[string]string{
				// Fast KIP-848 rebalances in tests (DEPENDENCY-NOTES).
				"group.consumer.heartbeat.interval.ms": "500",
			}),
		}
		fake, err := kfake.NewCluster(append(base, opts...)...)
		if err != nil {
			t.Fatalf("kafkatest: start kfake: %v", err)
		}
		t.Cleanup(fake.Close)
		c.Fake = fake
		c.Brokers = fake.ListenAddrs()
	}

	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, c.opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: admin client: %v", err)
	}
	t.Cleanup(cl.Close)
	c.admin = kadm.NewClient(cl)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.admin.BrokerMetadata(ctx); err != nil {
		msg := fmt.Sprintf("kafkatest: %s cluster at %s does not answer metadata requests: %v",
			c.Tier(), strings.Join(c.Brokers, ","), err)
		if log := os.Getenv(EnvBrokerLog); log != "" {
			msg += "\nbroker log: " + log
		}
		t.Fatal(msg)
	}
	t.Logf("kafkatest: tier=%s brokers=%s registry=%s", c.Tier(), strings.Join(c.Brokers, ","), c.Registry)
	return c
}

// Attach wraps an already running cluster (for tests that need a second
// one), with no registry.
func Attach(t testing.TB, brokers []string) *Cluster {
	t.Helper()
	c := &Cluster{t: t, suffix: randSuffix(t), Brokers: brokers}
	c.admin = kadm.NewClient(c.Client())
	return c
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// Name returns a name unique to this test and run, for topics, groups and
// application ids, so tests can share one real broker.
func (c *Cluster) Name(base string) string {
	n := unsafeChars.ReplaceAllString(c.t.Name()+"-"+base, "_")
	if len(n) > 180 {
		n = n[:180]
	}
	return n + "-" + c.suffix
}

// CreateTopic creates a topic (replication 1 unless the cluster has three
// brokers, then 3) and fails the test on error. Unless configs say
// otherwise the topic keeps records forever: test records carry event
// times far in the past, which time retention would delete.
func (c *Cluster) CreateTopic(ctx context.Context, topic string, partitions int32, configs map[string]*string) {
	c.t.Helper()
	configs = maps.Clone(configs)
	if configs == nil {
		configs = map[string]*string{}
	}
	if _, ok := configs["retention.ms"]; !ok {
		configs["retention.ms"] = kadm.StringPtr("-1")
	}
	rf := int16(1)
	if md, err := c.admin.BrokerMetadata(ctx); err == nil && len(md.Brokers) >= 3 {
		rf = 3
	}
	resp, err := c.admin.CreateTopic(ctx, partitions, rf, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		c.t.Fatalf("kafkatest: create topic %s: %v", topic, err)
	}
	// Return once the broker's metadata shows it with a leader for every
	// partition: a worker started right after checks that it exists.
	for {
		md, err := c.admin.Metadata(ctx, topic)
		if err == nil {
			if td, ok := md.Topics[topic]; ok && td.Err == nil && len(td.Partitions) == int(partitions) {
				led := true
				for _, p := range td.Partitions {
					led = led && p.Leader >= 0 && p.Err == nil
				}
				if led {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("kafkatest: topic %s not in the metadata: %v", topic, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Admin returns an admin client that is closed with the test.
func (c *Cluster) Admin() *kadm.Client { return c.admin }

// Client returns a franz-go client seeded with the cluster's brokers and
// closed with the test.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	base := append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, c.opts...)
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		c.t.Fatalf("kafkatest: client: %v", err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// ReadCommittedUntil reads topic from the start with isolation
// read_committed until done returns true for a record, or ctx ends. It
// returns every record seen, the one that ended the read included. Write a
// final marker record in its own committed transaction to read "everything
// committed before it" without waiting on a clock.
func (c *Cluster) ReadCommittedUntil(ctx context.Context, topic string, done func(*kgo.Record) bool) ([]*kgo.Record, error) {
	cl := c.Client(
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	var out []*kgo.Record
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("read %s: saw %d records, no end marker: %w", topic, len(out), err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return out, ferr
		}
		for _, r := range fs.Records() {
			out = append(out, r)
			if done(r) {
				return out, nil
			}
		}
	}
}

func randSuffix(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("kafkatest: random: %v", err)
	}
	return hex.EncodeToString(b[:])
}
