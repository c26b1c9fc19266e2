package processor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

func runOnce(t *testing.T, topo *topology.Topology, opts ...processor.Opt) error {
	t.Helper()
	app, err := processor.New(topo, opts...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return app.Run(ctx)
}

func TestBadConfigFailsStartUp(t *testing.T) {
	c := kafkatest.New(t)
	ctx := context.Background()
	a, b2, out := c.Name("a"), c.Name("b"), c.Name("out")
	c.CreateTopic(ctx, a, 3, nil)
	c.CreateTopic(ctx, b2, 2, nil)
	c.CreateTopic(ctx, out, 3, nil)

	build := func(app string, fn func(b *topology.Builder)) *topology.Topology {
		b := topology.New(c.Name(app))
		fn(b)
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	copyFrom := func(in string) func(b *topology.Builder) {
		return func(b *topology.Builder) {
			topology.StreamOf(b, in, codec.String(), codec.String()).To(out, codec.String(), codec.String())
		}
	}

	t.Run("missing topic", func(t *testing.T) {
		missing := c.Name("missing")
		err := runOnce(t, build("m", copyFrom(missing)), processor.SeedBrokers(c.Brokers...), processor.StateDir(t.TempDir()))
		if !errors.Is(err, processor.ErrTopics) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("got %v, want ErrTopics naming %s", err, missing)
		}
	})
	t.Run("mismatched partitions", func(t *testing.T) {
		topo := build("p", func(b *topology.Builder) {
			s1 := topology.StreamOf(b, a, codec.String(), codec.String())
			s2 := topology.StreamOf(b, b2, codec.String(), codec.String())
			// A shared store puts both sources in one sub-topology.
			s1.Merge("both", s2).ToTable("latest", codec.String(), codec.String())
		})
		err := runOnce(t, topo, processor.SeedBrokers(c.Brokers...), processor.StateDir(t.TempDir()))
		if !errors.Is(err, processor.ErrTopics) || !strings.Contains(err.Error(), "same partition count") {
			t.Fatalf("got %v, want a partition-count mismatch naming %s and %s", err, a, b2)
		}
	})
	t.Run("unwritable state dir", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		err := runOnce(t, build("s", copyFrom(a)), processor.SeedBrokers(c.Brokers...), processor.StateDir(filepath.Join(file, "sub")))
		if !errors.Is(err, processor.ErrConfig) || !strings.Contains(err.Error(), "StateDir") {
			t.Fatalf("got %v, want ErrConfig telling to pass processor.StateDir", err)
		}
	})
	t.Run("no brokers", func(t *testing.T) {
		_, err := processor.New(build("n", copyFrom(a)))
		if !errors.Is(err, processor.ErrConfig) || !strings.Contains(err.Error(), "SeedBrokers") {
			t.Fatalf("got %v, want ErrConfig naming SeedBrokers", err)
		}
	})
}
