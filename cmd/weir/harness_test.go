package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

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
