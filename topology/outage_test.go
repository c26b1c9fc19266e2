package topology_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// flakySerde is a string serde that, while down, cannot decode values
// starting with "new" (a schema id it has not seen) or encode at all when
// encodeDown: the way an Avro serde behaves in a registry outage.
type flakySerde struct {
	down, encodeDown atomic.Bool
	ctxCalls         atomic.Int64
}

func (f *flakySerde) Encode(topic string, v string) ([]byte, error) {
	return f.EncodeContext(context.Background(), topic, v)
}

func (f *flakySerde) Decode(topic string, b []byte) (string, error) {
	return f.DecodeContext(context.Background(), topic, b)
}

func (f *flakySerde) EncodeContext(ctx context.Context, _ string, v string) ([]byte, error) {
	f.ctxCalls.Add(1)
	if f.encodeDown.Load() {
		return nil, fmt.Errorf("%w: connection refused", codec.ErrRegistryUnavailable)
	}
	return []byte(v), nil
}

func (f *flakySerde) DecodeContext(ctx context.Context, _ string, b []byte) (string, error) {
	f.ctxCalls.Add(1)
	if f.down.Load() && strings.HasPrefix(string(b), "new") {
		return "", fmt.Errorf("%w: connection refused", codec.ErrRegistryUnavailable)
	}
	if string(b) == "garbage" {
		return "", fmt.Errorf("%w: not a value", codec.ErrMalformed)
	}
	return string(b), nil
}

// TestOutageWaitsInsteadOfDeadLettering: a decode outage leaves the record
// queued (held for the offset commit), never dead-lettered, while another
// task goes on; the record is processed, in order, once the serde
// recovers.
func TestOutageWaitsInsteadOfDeadLettering(t *testing.T) {
	vs := &flakySerde{}
	b := topology.New("app")
	topology.StreamOf(b, "in", str, vs).To("out", str, str)
	d := driver(t, build(t, b), topologytest.Partitions(2),
		topologytest.TaskOpts(topology.DefaultBadInput(topology.DeadLetter)))
	must(t, d.PipeRaw("in", []byte("a"), []byte("old-1"), ms(1)))
	// Keys "a" and "d" land on different partitions (murmur2).
	pa := int32(0)
	if t0, _ := d.Task(topology.TaskID{Partition: 0}); len(t0.Offsets()) == 0 {
		pa = 1
	}
	must(t, d.PipeRaw("in", []byte("d"), []byte("old-0"), ms(1)))
	if tb, _ := d.Task(topology.TaskID{Partition: 1 - pa}); len(tb.Offsets()) == 0 {
		t.Fatal("keys a and d share a partition; pick others")
	}
	vs.down.Store(true)
	err := d.PipeRaw("in", []byte("a"), []byte("new-2"), ms(2))
	if !errors.Is(err, topology.ErrWaiting) || !errors.Is(err, codec.ErrRegistryUnavailable) {
		t.Fatalf("PipeRaw during the outage = %v, want ErrWaiting wrapping ErrRegistryUnavailable", err)
	}
	for _, part := range []string{"topic in", "partition", "offset 1"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %q", err, part)
		}
	}
	// The waiting task keeps later records of its partition behind it;
	// the other task goes on.
	if err := d.PipeRaw("in", []byte("a"), []byte("old-3"), ms(3)); !errors.Is(err, topology.ErrWaiting) {
		t.Fatalf("PipeRaw behind the waiting record = %v, want ErrWaiting", err)
	}
	if err := d.PipeRaw("in", []byte("d"), []byte("old-4"), ms(4)); !errors.Is(err, topology.ErrWaiting) {
		t.Fatalf("PipeRaw to the other task = %v, want the waiting task reported", err)
	}
	if got := values(d.Outputs("out")); got != "old-1 old-0 old-4" {
		t.Fatalf("outputs during the outage %q, want %q", got, "old-1 old-0 old-4")
	}
	task, _ := d.Task(topology.TaskID{Partition: pa})
	if held := task.Held()[topology.TopicPartition{Topic: "in", Partition: pa}]; held != 1 {
		t.Fatalf("held offset %d, want 1 (the waiting record)", held)
	}
	if task.Buffered() != 2 {
		t.Fatalf("%d records buffered, want 2", task.Buffered())
	}
	if n := len(d.DeadLetters()); n != 0 {
		t.Fatalf("%d dead letters during the outage, want 0", n)
	}

	vs.down.Store(false)
	must(t, d.Commit()) // any later call retries the waiting task
	if got := values(d.Outputs("out")); got != "old-1 old-0 old-4 new-2 old-3" {
		t.Fatalf("outputs after recovery %q", got)
	}
	// Malformed input still goes to the dead-letter topic.
	must(t, d.PipeRaw("in", []byte("a"), []byte("garbage"), ms(5)))
	if n := len(d.DeadLetters()); n != 1 {
		t.Fatalf("%d dead letters, want 1 (the malformed record)", n)
	}
	if vs.ctxCalls.Load() == 0 {
		t.Fatal("the task core did not use the serde's context-aware methods")
	}
}

// TestOutageInSinkInterrupts: an outage while encoding a sink's output
// (after the record may have written state) is not the record's fault:
// the task stops with ErrInterrupted for the runtime to rewind it, and
// nothing is dead-lettered.
func TestOutageInSinkInterrupts(t *testing.T) {
	ks := &flakySerde{}
	b := topology.New("app")
	topology.GroupByKey(topology.StreamOf(b, "in", str, str), str, str).Count("counts").
		ToStream("changes").To("out", ks, i64)
	topo := build(t, b)
	task, err := topo.NewTask(topology.TaskID{}, memStores{}, topology.DefaultBadInput(topology.DeadLetter))
	must(t, err)
	ks.encodeDown.Store(true)
	must(t, task.Add(topology.Record{Topic: "in", Key: []byte("k"), Value: []byte("v")}))
	_, err = task.Process(context.Background())
	if !errors.Is(err, topology.ErrInterrupted) || !errors.Is(err, codec.ErrRegistryUnavailable) {
		t.Fatalf("Process = %v, want ErrInterrupted wrapping ErrRegistryUnavailable", err)
	}
	if st := task.Stats(); st.DeadLettered != 0 {
		t.Fatalf("stats %+v: an outage was dead-lettered", st)
	}
	for _, o := range task.TakeOutputs() {
		if o.Topic == "app-dlq" {
			t.Fatalf("dead letter produced: %+v", o)
		}
	}
	if _, err := task.Process(context.Background()); !errors.Is(err, topology.ErrTaskFailed) {
		t.Fatalf("after ErrInterrupted: %v, want ErrTaskFailed (the runtime rebuilds the task)", err)
	}
}

func values(os []topology.Output) string {
	var s []string
	for _, o := range os {
		s = append(s, string(o.Value))
	}
	return strings.Join(s, " ")
}
