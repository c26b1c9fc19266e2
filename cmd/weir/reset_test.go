package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
)

// weir reset on the profiles application: it refuses while a worker
// runs; -dry-run prints every action (each input partition, each
// internal topic, the local state) and changes nothing; the reset itself
// commits the inputs' start offsets, deletes the internal topics and
// removes the application's state directory.
func TestResetProfilesApplication(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := buildWeir(ctx, t)
	pc := newProfilesCluster(ctx, t, 3)
	c, app, prefix, tp := pc.c, pc.app, pc.prefix, pc.tp
	pc.produce(ctx, t, profile.Generate(11, 300, profile.GenOptions{Customers: 20}))
	inputs := []string{tp.Purchases, tp.Tickets, tp.Views}
	stateDir := t.TempDir()
	worker := exec.Command(bin, "run", "-pipeline", "profiles", "-auto-register", "-app", app,
		"-topic-prefix", prefix, "-state-dir", stateDir, "-commit-interval", "100ms")
	p := startWeir(t, worker, append(os.Environ(), "WEIR_BROKERS="+strings.Join(c.Brokers, ","), "WEIR_REGISTRY="+c.Registry))
	for _, topic := range inputs {
		if err := demo.WaitCommitted(ctx, c.Brokers, app, topic); err != nil {
			t.Fatalf("%v\n%s", err, p.output())
		}
	}

	args := []string{"-brokers", strings.Join(c.Brokers, ","), "-pipeline", "profiles", "-app", app,
		"-topic-prefix", prefix, "-state-dir", stateDir}
	var out strings.Builder
	if err := runReset(ctx, args, &out); !errors.Is(err, processor.ErrGroupActive) {
		t.Fatalf("reset while a worker runs: %v, want ErrGroupActive\n%s", err, out.String())
	}
	worker.Process.Signal(os.Interrupt) // commits and leaves the group
	for range p.lines {
	}

	internal, err := c.Admin().ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var changelogs []string
	for name := range internal {
		if strings.HasPrefix(name, app+"-") && strings.HasSuffix(name, "-changelog") {
			changelogs = append(changelogs, name)
		}
	}
	if len(changelogs) == 0 {
		t.Fatalf("the worker made no changelog topics (topics %v)", internal.Names())
	}
	ends, err := c.Admin().ListEndOffsets(ctx, inputs...)
	if err != nil {
		t.Fatal(err)
	}
	committedAt := func() map[string]int64 {
		t.Helper()
		got := map[string]int64{}
		offs, err := c.Admin().FetchOffsets(ctx, app)
		if err != nil {
			t.Fatal(err)
		}
		offs.Each(func(o kadm.OffsetResponse) { got[o.Topic+"/"+string(rune('0'+o.Partition))] = o.At })
		return got
	}
	before := committedAt()

	dry := dryRunWhenStopped(ctx, t, append(args, "-dry-run"))
	for _, want := range append(changelogs, "offset "+tp.Views+"/0:", "offset "+tp.Tickets+"/2:", "remove local state "+filepath.Join(stateDir, app), "dry run, nothing changed") {
		if !strings.Contains(dry, want) {
			t.Errorf("dry run does not say %q:\n%s", want, dry)
		}
	}
	if after := committedAt(); len(after) != len(before) || after[tp.Views+"/0"] != before[tp.Views+"/0"] {
		t.Errorf("the dry run moved offsets: %v, were %v", after, before)
	}
	if _, err := os.Stat(filepath.Join(stateDir, app)); err != nil {
		t.Errorf("the dry run removed the local state: %v", err)
	}

	out.Reset()
	if err := runReset(ctx, args, &out); err != nil {
		t.Fatalf("reset: %v\n%s", err, out.String())
	}
	t.Logf("weir reset:\n%s", out.String())
	after := committedAt()
	ends.Each(func(o kadm.ListedOffset) {
		key := o.Topic + "/" + string(rune('0'+o.Partition))
		if o.Offset > 0 && (before[key] != o.Offset || after[key] != 0) {
			t.Errorf("%s: committed %d before (end %d), %d after; want the end, then 0", key, before[key], o.Offset, after[key])
		}
	})
	// Deletion completes on the brokers a moment after it is acknowledged.
	for {
		left, err := c.Admin().ListTopics(ctx, changelogs...)
		if err != nil {
			t.Fatal(err)
		}
		var still []string
		for _, name := range changelogs {
			if d, ok := left[name]; ok && d.Err == nil {
				still = append(still, name)
			}
		}
		if len(still) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("changelogs %v still exist after the reset", still)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := os.Stat(filepath.Join(stateDir, app)); !os.IsNotExist(err) {
		t.Errorf("local state still there after the reset: %v", err)
	}
}

// dryRunWhenStopped runs weir reset args until the group no longer
// lists the worker that just left, and returns what it printed.
func dryRunWhenStopped(ctx context.Context, t *testing.T, args []string) string {
	t.Helper()
	for {
		var out strings.Builder
		err := runReset(ctx, args, &out)
		if err == nil {
			return out.String()
		}
		if !errors.Is(err, processor.ErrGroupActive) || ctx.Err() != nil {
			t.Fatalf("weir reset %v: %v\n%s", args, err, out.String())
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// A reset plans from the topology the workers ran: with -erasures and
// -inactive-ttl it resets the erasures input too and deletes the erasure
// and expiry-index changelogs.
func TestResetPlansThePipelineFlags(t *testing.T) {
	f, _, err := parseResetFlags([]string{"-app", "shop", "-erasures", "-inactive-ttl", "720h"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	topo, err := pipelineTopology(context.Background(), f.pipeline, f.app, f.prefix, "http://127.0.0.1:0", f.pipe)
	if err != nil {
		t.Fatal(err)
	}
	var internal []string
	for _, it := range topo.InternalTopics() {
		internal = append(internal, it.Name)
	}
	for _, want := range []string{"shop-erasures-changelog", "shop-profiles-ttl-changelog", "shop-profiles-changelog"} {
		if !slices.Contains(internal, want) {
			t.Errorf("internal topics %v lack %s", internal, want)
		}
	}
	if _, ok := topo.SubtopologyOf("erasures"); !ok {
		t.Error("the erasures topic is not an input: its offsets would not be reset")
	}
}
