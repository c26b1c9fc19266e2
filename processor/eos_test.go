package processor_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
)

// subprocess is a `weir run` worker in its own process.
type subprocess struct {
	cmd *exec.Cmd
	log string
}

// startWeir starts `weir run` with instance id name, its log in
// <name>.log; extra flags come last and win.
func startWeir(t *testing.T, bin string, c *kafkatest.Cluster, app, prefix, dir, name string, extra ...string) *subprocess {
	t.Helper()
	log := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"run",
		"-brokers", strings.Join(c.Brokers, ","), "-registry", c.Registry,
		"-app", app, "-topic-prefix", prefix, "-state-dir", dir, "-instance", name,
		"-session-timeout", "6s"}, extra...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &subprocess{cmd: cmd, log: log}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("%s log (tail):\n%s", name, tail(string(b), 3000))
		}
	})
	return p
}

// buildWeir builds the weir binary into a temporary directory.
func buildWeir(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "weir")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/weirstream/weir/cmd/weir").CombinedOutput(); err != nil {
		t.Fatalf("build weir: %v\n%s", err, out)
	}
	return bin
}

// kill9 kills the worker the way the OOM killer would.
func (p *subprocess) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestExactlyOnceUnderFailure runs the demo pipeline (a stream-table
// join, a global-table join and a windowed count) on three workers over
// 100,000 seeded events (40,000 under -race) while workers crash and come
// and go: a `weir run` process is killed with SIGKILL twice, an in-process
// worker is abandoned mid-transaction, another leaves and a new one joins. An independent
// checker then reads the outputs with read_committed and compares them
// with a model of the input: no duplicate, no missing, no wrong value.
func TestExactlyOnceUnderFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 100k events with crashes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	bin := buildWeir(t)
	c := kafkatest.New(t)
	app, prefix := c.Name("app"), c.Name("")+"."
	topics := demo.TopicsWithPrefix(prefix)
	serdes, err := demo.NewSerdes(c.Registry, avro.AutoRegister())
	if err != nil {
		t.Fatal(err)
	}
	topo, err := demo.Topology(app, topics, serdes)
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.CreateTopics(ctx, c.Brokers, topics, 6); err != nil {
		t.Fatal(err)
	}
	events := 100_000
	if raceOn {
		// The race detector slows the workers several-fold: the same
		// crashes over fewer events keep the test within its deadline.
		events = 40_000
	}
	w, err := demo.NewWorkload(topics, serdes, demo.WorkloadConfig{
		Seed: seed, Events: events, Customers: 2000, Products: 500, BadShare: 0.002,
		Start: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Produce(ctx, c.Brokers, append(w.Customers, w.Products...)); err != nil {
		t.Fatal(err)
	}

	inproc := func(name string) *running {
		return start(t, topo, c.Brokers, filepath.Join(t.TempDir(), name),
			processor.InstanceID(name), processor.SessionTimeout(6*time.Second),
			processor.TransactionTimeout(5*time.Second))
	}
	a := inproc("a")
	b := inproc("b")
	subDir := t.TempDir()
	s := startWeir(t, bin, c, app, prefix, subDir, "s1")
	if err := demo.WaitCommitted(ctx, c.Brokers, app, topics.Customers); err != nil {
		t.Fatal(err)
	}

	chunks := 10
	per := (len(w.Views) + chunks - 1) / chunks
	for i := range chunks {
		lo, hi := i*per, min((i+1)*per, len(w.Views))
		if err := demo.Produce(ctx, c.Brokers, w.Views[lo:hi]); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 1: // a process dies mid-stream and comes back on its state
			s.kill9(t)
			s = startWeir(t, bin, c, app, prefix, subDir, "s2")
		case 3: // an in-process worker crashes mid-transaction
			a.abandon(t)
			a = inproc("a2")
		case 5: // a worker leaves cleanly
			b.stop(t)
		case 6: // and a new one joins
			b = inproc("b2")
		case 8: // the process dies again, for good
			s.kill9(t)
		}
	}
	var last string
	err = demo.Check(ctx, c.Brokers, app, topics, w, func(p string) { last = p; t.Log(p) })
	if err != nil {
		describeGroup(t, c, app)
		c.LogTransactions(t, topics.Enriched, topics.Counts, app+"-dlq",
			app+"-"+topics.Customers+"-changelog", app+"-views-5m-changelog")
		logStacks(t)
		t.Fatalf("seed %d: %v (last progress: %s)", seed, err, last)
	}
	t.Logf("checked %d enriched views, %d windows, %d dead letters", len(w.Enriched), len(w.Counts), w.Malformed)
	a.stop(t)
	b.stop(t)
}

// logStacks logs this process's goroutines, to show where in-process
// workers wait.
func logStacks(t *testing.T) {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	t.Logf("goroutines:\n%s", b.String())
}

// abandon crashes an in-process worker mid-transaction.
func (r *running) abandon(t *testing.T) {
	t.Helper()
	r.app.Abandon()
	if err := <-r.done; !errors.Is(err, processor.ErrAbandoned) {
		t.Fatalf("abandoned worker returned %v", err)
	}
	r.cancel()
}

// describeGroup logs who owns what and how far each partition is
// committed, to tell a stuck assignment from a stuck worker.
func describeGroup(t *testing.T, c *kafkatest.Cluster, group string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := c.Admin()
	if dg, err := adm.DescribeGroups(ctx, group); err == nil {
		for _, g := range dg.Sorted() {
			t.Logf("group %s state %s protocol %s", g.Group, g.State, g.Protocol)
			for _, m := range g.Members {
				ca, _ := m.Assigned.AsConsumer()
				if ca != nil {
					for _, tp := range ca.Topics {
						t.Logf("  member %s (%s): %s %v", m.MemberID, m.ClientID, tp.Topic, tp.Partitions)
					}
				}
			}
		}
	} else {
		t.Logf("describe group: %v", err)
	}
	if lag, err := adm.Lag(ctx, group); err == nil {
		lag.Each(func(l kadm.DescribedGroupLag) {
			for _, tl := range l.Lag.Sorted() {
				if tl.Lag > 0 {
					owner := "none"
					if tl.Member != nil {
						owner = tl.Member.MemberID
					}
					t.Logf("  lag %s/%d: committed %d end %d member %s", tl.Topic, tl.Partition, tl.Commit.At, tl.End.Offset, owner)
				}
			}
		})
	} else {
		t.Logf("lag: %v", err)
	}
}
