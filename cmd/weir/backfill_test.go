package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/internal/profilemodel"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology"
)

// updateV2 is the profile update of the "new code" in the backfill test:
// the profile with one field more.
type updateV2 struct {
	events.ProfileUpdate
	ViewsAndPurchases *int64 `json:"views_and_purchases,omitempty"`
}

// updateV2Serde writes profile updates with the new field; it reads old
// and new ones.
type updateV2Serde struct{}

func (updateV2Serde) Encode(_ string, u events.ProfileUpdate) ([]byte, error) {
	n := u.ViewsTotal + u.Purchases
	return json.Marshal(updateV2{ProfileUpdate: u, ViewsAndPurchases: &n})
}

func (updateV2Serde) Decode(_ string, b []byte) (events.ProfileUpdate, error) {
	var u updateV2
	err := json.Unmarshal(b, &u)
	return u.ProfileUpdate, err
}

var _ codec.Serde[events.ProfileUpdate] = updateV2Serde{}

// syncBuffer is an io.Writer that tests read while a command writes, and
// that tells when a line containing a string has been written.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
	ch chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{ch: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.ch <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the output contains want.
func (s *syncBuffer) waitFor(ctx context.Context, want string) error {
	for !strings.Contains(s.String(), want) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %q: %w", want, ctx.Err())
		case <-s.ch:
		}
	}
	return nil
}

// The cut-over of issue 17: the profiles pipeline runs; a new version of
// it (a new profile field) is backfilled from the start under a shadow
// application id while the live workers go on and more events arrive;
// then the live workers stop, the backfill catches up and stops, the
// promote (after a dry run that changes nothing) switches over, and live
// workers of the new code go on from the backfill's state. Every
// customer's last profile on the live output matches the model (the
// version counts its events) and has the new field, and no customer's
// version ever goes backwards on the live output.
func TestBackfillNewProfileFieldAndPromote(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	c := kafkatest.New(t)
	app, prefix := c.Name("app"), c.Name("")+"."
	tp := profile.PrefixedTopics(prefix)
	if err := demo.CreateTopicsKeeping(ctx, c.Brokers, map[string]int32{
		tp.Views: 3, tp.Purchases: 3, tp.Tickets: 3, tp.Customers: 3, tp.Products: 1, tp.Updates: 3, tp.Triggers: 3,
	}); err != nil {
		t.Fatal(err)
	}
	build := func(v2 bool) pipelineBuilder {
		return func(_ context.Context, app string, output func(string) string) (*topology.Topology, map[string]processor.VersionFunc, error) {
			s := profile.JSONSerdes()
			if v2 {
				s.Update = updateV2Serde{}
			}
			topics := tp
			if output != nil {
				topics.Updates, topics.Triggers = output(tp.Updates), output(tp.Triggers)
			}
			topo, err := profile.Topology(profile.Config{AppID: app, Topics: topics, Serdes: s, BadInput: topology.DeadLetter})
			return topo, map[string]processor.VersionFunc{topics.Updates: updateVersion(s.Update, topics.Updates)}, err
		}
	}
	recs := profile.Generate(seed, 26000, profile.GenOptions{Customers: 300, Late: -1, OutOfOrder: -1})
	model := profilemodel.New()
	produce := func(part []profile.Record) {
		t.Helper()
		var krs []*kgo.Record
		for _, r := range part {
			model.Add(r)
			k, v, err := r.Encode(profile.JSONSerdes())
			if err != nil {
				t.Fatal(err)
			}
			krs = append(krs, &kgo.Record{Topic: prefix + r.Topic, Key: k, Value: v, Timestamp: r.Time})
		}
		if err := demo.Produce(ctx, c.Brokers, krs); err != nil {
			t.Fatal(err)
		}
	}
	liveDir := t.TempDir()
	startLive := func(v2 bool) (stop func()) {
		t.Helper()
		topo, _, err := build(v2)(ctx, app, nil)
		if err != nil {
			t.Fatal(err)
		}
		w, err := processor.New(topo, processor.SeedBrokers(c.Brokers...), processor.StateDir(liveDir), processor.CommitInterval(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(wctx) }()
		return func() {
			wcancel()
			if err := <-done; err != nil {
				t.Errorf("live worker: %v", err)
			}
		}
	}
	inputs := []string{tp.Purchases, tp.Tickets, tp.Views}
	waitCommitted := func(group string) {
		t.Helper()
		for _, topic := range append(inputs, tp.Customers) {
			if err := demo.WaitCommitted(ctx, c.Brokers, group, topic); err != nil {
				t.Fatalf("%s on %s: %v", group, topic, err)
			}
		}
	}

	// The live pipeline (old code) and 20k records of history.
	stopLive := startLive(false)
	produce(recs[:20000])
	waitCommitted(app)

	// The backfill of the new code, while the live pipeline goes on and
	// more events arrive.
	args := func(more ...string) *backfillFlags {
		t.Helper()
		f, err := parseBackfillFlags(append([]string{"-brokers", strings.Join(c.Brokers, ","), "-app", app,
			"-topic-prefix", prefix, "-state-dir", liveDir, "-commit-interval", "100ms"}, more...), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		f.every = 200 * time.Millisecond
		return f
	}
	out := newSyncBuffer()
	bctx, bcancel := context.WithCancel(ctx)
	bdone := make(chan error, 1)
	start := time.Now()
	go func() { bdone <- backfillWith(bctx, args(), build(true), out) }()
	produce(recs[20000:24000])
	if err := out.waitFor(ctx, "backfill: caught up"); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("backfill caught up in %v", time.Since(start))

	// The cut-over: stop the live workers, let the backfill pass where
	// they stopped, stop it, promote.
	waitCommitted(app)
	stopLive()
	waitCommitted(app + "-backfill")
	bcancel()
	if err := <-bdone; err != nil {
		t.Fatalf("backfill: %v\n%s", err, out.String())
	}
	t.Logf("weir backfill:\n%s", out.String())
	for _, want := range []string{"records of", "lag ", "caught up", "stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the backfill's output does not say %q", want)
		}
	}
	committed := func() string {
		offs, err := c.Admin().FetchOffsets(ctx, app)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		offs.Each(func(o kadm.OffsetResponse) { s = append(s, fmt.Sprintf("%s/%d@%d", o.Topic, o.Partition, o.At)) })
		slices.Sort(s)
		return strings.Join(s, " ")
	}
	before := committed()
	dry := promoteWhenStopped(ctx, t, args("-promote", "-dry-run"), build(true))
	for _, want := range []string{"replace topic " + app + "-profiles-changelog with a copy of " + app + "-backfill-profiles-changelog",
		"output " + tp.Updates + ": write each key's latest record of " + app + "-backfill-" + tp.Updates,
		"output " + tp.Triggers + ": left as it is", "offset " + tp.Views + "/0:", "dry run, nothing changed"} {
		if !strings.Contains(dry, want) {
			t.Errorf("the dry run does not say %q:\n%s", want, dry)
		}
	}
	if after := committed(); after != before {
		t.Errorf("the dry run moved offsets: %s, were %s", after, before)
	}
	promoted := promoteWhenStopped(ctx, t, args("-promote"), build(true))
	t.Logf("weir backfill -promote:\n%s", promoted)

	// The new code goes on live, with more events.
	stopLive = startLive(true)
	defer stopLive()
	produce(recs[24000:])
	waitCommitted(app)

	type seen struct {
		version int64
		last    updateV2
	}
	got := map[string]*seen{}
	backwards := 0
	if err := processor.ReadToEnd(ctx, []string{tp.Updates}, func(r processor.FollowedRecord) error {
		var u updateV2
		if err := json.Unmarshal(r.Value, &u); err != nil {
			return fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		s := got[string(r.Key)]
		if s == nil {
			s = &seen{}
			got[string(r.Key)] = s
		}
		if u.Version < s.version {
			if backwards++; backwards <= 5 {
				t.Errorf("customer %s: version %d after %d (%s/%d@%d)", r.Key, u.Version, s.version, r.Topic, r.Partition, r.Offset)
			}
		}
		s.version, s.last = u.Version, u
		return nil
	}, processor.SeedBrokers(c.Brokers...)); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(model.Latest) {
		t.Errorf("%d customers on the output, the model has %d", len(got), len(model.Latest))
	}
	bad := 0
	for id, want := range model.Latest {
		s := got[id]
		var problem string
		switch {
		case s == nil:
			problem = "no profile"
		case s.last.Version != want.Version:
			problem = fmt.Sprintf("version %d, want %d", s.last.Version, want.Version)
		case s.last.ViewsAndPurchases == nil:
			problem = "no views_and_purchases (the new field)"
		case *s.last.ViewsAndPurchases != want.ViewsTotal+want.Purchases:
			problem = fmt.Sprintf("views_and_purchases %d, want %d", *s.last.ViewsAndPurchases, want.ViewsTotal+want.Purchases)
		}
		if problem != "" {
			if bad++; bad <= 5 {
				t.Errorf("customer %s: %s", id, problem)
			}
		}
	}
	if bad > 0 || backwards > 0 {
		t.Errorf("%d customers wrong, %d versions going back (seed %d)", bad, backwards, seed)
	}
}

// promoteWhenStopped runs weir backfill -promote until the groups no
// longer list the workers that just left, and returns what it printed.
func promoteWhenStopped(ctx context.Context, t *testing.T, f *backfillFlags, build pipelineBuilder) string {
	t.Helper()
	for {
		out := newSyncBuffer()
		err := backfillWith(ctx, f, build, out)
		if err == nil {
			return out.String()
		}
		if !errors.Is(err, processor.ErrGroupActive) || ctx.Err() != nil {
			t.Fatalf("weir backfill -promote: %v\n%s", err, out.String())
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// weir backfill's own path, as an operator runs it: flags checked, the
// profiles pipeline built with Avro serdes from the registry (the shadow
// outputs' subjects registered), a backfill that has not run refused for
// promotion, and one run until it has caught up into its shadow outputs.
func TestBackfillCommandLine(t *testing.T) {
	for _, bad := range [][]string{{"-dry-run"}, {"-from", "yesterday"}, {"extra"}} {
		if _, err := parseBackfillFlags(bad, func(string) string { return "" }); err == nil {
			t.Errorf("weir backfill %q: no error", bad)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pc := newProfilesCluster(ctx, t, 3)
	c, app, prefix, tp := pc.c, pc.app, pc.prefix, pc.tp
	pc.produce(ctx, t, profile.Generate(5, 500, profile.GenOptions{Customers: 20}))
	args := []string{"-brokers", strings.Join(c.Brokers, ","), "-registry", c.Registry, "-app", app,
		"-topic-prefix", prefix, "-state-dir", t.TempDir(), "-commit-interval", "100ms", "-auto-register"}
	var out strings.Builder
	if err := runBackfill(ctx, append(args, "-promote", "-dry-run"), &out); !errors.Is(err, processor.ErrBackfillBehind) {
		t.Fatalf("promote before any backfill: %v, want ErrBackfillBehind\n%s", err, out.String())
	}
	live := newSyncBuffer()
	bctx, bcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runBackfill(bctx, args, live) }()
	err := live.waitFor(ctx, "backfill: caught up")
	bcancel()
	if err := <-done; err != nil {
		t.Fatalf("weir backfill: %v\n%s", err, live.String())
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, live.String())
	}
	shadowUpdates := app + "-backfill-" + tp.Updates
	customers := map[string]int64{}
	if err := processor.ReadToEnd(ctx, []string{shadowUpdates}, func(r processor.FollowedRecord) error {
		u, err := pc.serdes.Update.Decode(shadowUpdates, r.Value)
		customers[u.CustomerID] = max(customers[u.CustomerID], u.Version)
		return err
	}, processor.SeedBrokers(c.Brokers...)); err != nil {
		t.Fatalf("shadow output %s: %v\n%s", shadowUpdates, err, live.String())
	}
	if len(customers) == 0 {
		t.Fatalf("no profile updates on %s\n%s", shadowUpdates, live.String())
	}
}
