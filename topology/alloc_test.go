package topology_test

import (
	"context"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/topology"
)

// bytesPunctuated counts records and has a stream-time punctuation, so
// every record goes through the task's schedule loop.
type bytesPunctuated struct{ n int }

func (p *bytesPunctuated) Init(ctx *topology.Context[[]byte, []byte]) error {
	_, err := ctx.Schedule(time.Millisecond, topology.StreamTime, func(time.Time) error { return nil })
	return err
}

func (p *bytesPunctuated) Process(_ *topology.Context[[]byte, []byte], _, _ []byte) error {
	p.n++
	return nil
}

// The task's own per-record path (Add, the queue, stream time, the
// schedules) allocates nothing in steady state: what remains is the
// source's decode (Bytes copies key and value) and boxing them into the
// untyped message. A deterministic count, so asserted.
func TestTaskPerRecordAllocations(t *testing.T) {
	b := topology.New("app")
	topology.Process(topology.StreamOf(b, "in", codec.Bytes(), codec.Bytes()), "count",
		func() topology.Processor[[]byte, []byte, []byte, []byte] { return &bytesPunctuated{} })
	topo := build(t, b)
	task, err := topo.NewTask(topology.TaskID{}, memStores{})
	must(t, err)
	off := int64(0)
	k, v := []byte("k"), []byte("v")
	one := func() {
		must(t, task.Add(topology.Record{Topic: "in", Offset: off, Key: k, Value: v, Timestamp: ms(off)}))
		off++
		if ok, err := task.Process(context.Background()); !ok || err != nil {
			t.Fatalf("Process: %v, %v", ok, err)
		}
	}
	for range 100 {
		one()
	}
	// Key and value copies, and the two boxes of the message's key and
	// value.
	if n := testing.AllocsPerRun(1000, one); n > 4 {
		t.Fatalf("%.1f allocations per record; want at most 4", n)
	}
}

// A typed lookup encodes its key into a reused buffer when the key serde
// appends (codec.Appender): what remains is the value's decode.
func TestKVStoreGetEncodesKeyWithoutAllocating(t *testing.T) {
	kv := state.NewMemory()
	st := topology.WrapKV(kv, "t", codec.String(), codec.String())
	must(t, st.Put("customer-1", "row"))
	get := func() {
		if v, ok, err := st.Get("customer-1"); err != nil || !ok || v != "row" {
			t.Fatalf("Get: %q, %v, %v", v, ok, err)
		}
	}
	get()
	// The value's string(b).
	if n := testing.AllocsPerRun(1000, get); n > 1 {
		t.Fatalf("%.1f allocations per Get; want at most 1", n)
	}
}
