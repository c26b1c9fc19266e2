package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/profile"
)

// buildWeir builds this binary for tests that run it as a process.
func buildWeir(ctx context.Context, t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "weir")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/weirstream/weir/cmd/weir").CombinedOutput(); err != nil {
		t.Fatalf("build weir: %v\n%s", err, out)
	}
	return bin
}

// profilesCluster is a test cluster with the profiles pipeline's topics
// under a fresh prefix, each with partitions partitions (products: 1),
// and the pipeline's serdes on the cluster's registry.
type profilesCluster struct {
	c           *kafkatest.Cluster
	app, prefix string
	tp          profile.Topics
	serdes      profile.Serdes
}

func newProfilesCluster(ctx context.Context, t *testing.T, partitions int32) profilesCluster {
	t.Helper()
	c := kafkatest.New(t)
	pc := profilesCluster{c: c, app: c.Name("app"), prefix: c.Name("") + "."}
	pc.tp = profile.PrefixedTopics(pc.prefix)
	tp := pc.tp
	if err := demo.CreateTopicsKeeping(ctx, c.Brokers, map[string]int32{
		tp.Views: partitions, tp.Purchases: partitions, tp.Tickets: partitions, tp.Customers: partitions,
		tp.Products: 1, tp.Updates: partitions, tp.Triggers: partitions,
	}); err != nil {
		t.Fatal(err)
	}
	rc, err := avro.NewHTTPRegistryClient(c.Registry)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		t.Fatal(err)
	}
	if pc.serdes, err = profile.AvroSerdes(reg, avro.AutoRegister()); err != nil {
		t.Fatal(err)
	}
	return pc
}

// produce encodes gen with the cluster's serdes and writes it to the
// prefixed topics. It returns the records written, in gen's order, and
// each customer's events: what the profile's version counts.
func (pc profilesCluster) produce(ctx context.Context, t *testing.T, gen []profile.Record) ([]*kgo.Record, map[string]int64) {
	t.Helper()
	recs := make([]*kgo.Record, 0, len(gen))
	counts := map[string]int64{}
	for _, r := range gen {
		k, v, err := r.Encode(pc.serdes)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: pc.prefix + r.Topic, Key: k, Value: v, Timestamp: r.Time})
		if r.IsEvent() {
			counts[r.Key]++
		}
	}
	if err := demo.Produce(ctx, pc.c.Brokers, recs); err != nil {
		t.Fatal(err)
	}
	return recs, counts
}
