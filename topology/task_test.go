package topology_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/topology"
)

type memStores map[string]state.KeyValueStore

func (m memStores) KeyValue(name string) (state.KeyValueStore, error) {
	if m[name] == nil {
		m[name] = state.NewMemory()
	}
	return m[name], nil
}

// The task merges its input partitions in event-time order, whatever the
// order records were added in, and keeps per-partition offset order.
func TestTaskMergesPartitionsByEventTime(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	b := topology.New("app")
	a := topology.StreamOf(b, "a", str, str)
	a.Merge("m", topology.StreamOf(b, "b", str, str)).To("out", str, str)
	topo := build(t, b)
	task, err := topo.NewTask(topology.TaskID{}, memStores{})
	must(t, err)

	// Each topic's timestamps increase, so event-time order is a total
	// order (ties broken by topic name).
	type rec struct {
		topic string
		ts    int64
	}
	var want []rec
	for _, topic := range []string{"a", "b"} {
		ts := int64(0)
		for i := 0; i < 50; i++ {
			ts += int64(rng.Intn(5))
			want = append(want, rec{topic, ts})
			must(t, task.Add(topology.Record{Topic: topic, Offset: int64(i), Key: []byte(topic),
				Value: []byte(fmt.Sprint(i)), Timestamp: ms(ts)}))
		}
	}
	sort.SliceStable(want, func(i, j int) bool {
		if want[i].ts != want[j].ts {
			return want[i].ts < want[j].ts
		}
		return want[i].topic < want[j].topic
	})
	for {
		ok, err := task.Process(context.Background())
		must(t, err)
		if !ok {
			break
		}
	}
	outs := task.TakeOutputs()
	if len(outs) != len(want) {
		t.Fatalf("seed %d: %d outputs, want %d", seed, len(outs), len(want))
	}
	for i, o := range outs {
		if string(o.Key) != want[i].topic || o.Timestamp.UnixMilli() != want[i].ts {
			t.Fatalf("seed %d: output %d = %s@%d, want %s@%d", seed, i, o.Key, o.Timestamp.UnixMilli(), want[i].topic, want[i].ts)
		}
	}
	offs := task.Offsets()
	if offs[topology.TopicPartition{Topic: "a"}] != 50 || offs[topology.TopicPartition{Topic: "b"}] != 50 {
		t.Fatalf("offsets %v", offs)
	}
	if task.TakeOutputs() != nil {
		t.Fatal("TakeOutputs did not hand over its outputs")
	}
}

func TestTaskRejectsForeignRecords(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "in", str, str).To("out", str, str)
	topo := build(t, b)
	task, err := topo.NewTask(topology.TaskID{Partition: 2}, memStores{})
	must(t, err)
	if err := task.Add(topology.Record{Topic: "other", Partition: 2}); !errors.Is(err, topology.ErrUnknownTopic) {
		t.Fatalf("other topic: %v", err)
	}
	if err := task.Add(topology.Record{Topic: "in", Partition: 1}); !errors.Is(err, topology.ErrUnknownTopic) {
		t.Fatalf("other partition: %v", err)
	}
	must(t, task.Add(topology.Record{Topic: "in", Partition: 2, Offset: 7}))
	if ok, err := task.Process(context.Background()); !ok || err != nil {
		t.Fatalf("Process = %v, %v", ok, err)
	}
	if o := task.TakeOutputs(); len(o) != 1 || o[0].Partition != -1 {
		t.Fatalf("outputs %+v", o)
	}
	if off := task.Offsets()[topology.TopicPartition{Topic: "in", Partition: 2}]; off != 8 {
		t.Fatalf("offset %d, want 8", off)
	}
}

func TestPartitionerNeedsPartitionCount(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "in", str, str).To("out", str, str, topology.WithPartitioner(func([]byte, int32) int32 { return 0 }))
	topo := build(t, b)
	if s := topo.Subtopologies()[0].Sinks; len(s) != 1 || !s[0].CustomPartitioner {
		t.Fatalf("sinks %+v", s)
	}
	task, err := topo.NewTask(topology.TaskID{}, memStores{})
	must(t, err)
	must(t, task.Add(topology.Record{Topic: "in"}))
	if _, err := task.Process(context.Background()); !errors.Is(err, topology.ErrPartitionCount) {
		t.Fatalf("err = %v, want ErrPartitionCount", err)
	}
}

// Records of three topics reach the task in a random interleaving, with
// processing in between whenever the task is Ready. The output order must
// be the one of adding everything first: the merge does not depend on
// when records arrive. Whenever asked, Held names the first record of
// each partition not processed yet.
func TestTaskReadyMergesTheSameWhateverTheArrival(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	b := topology.New("app")
	topology.StreamOf(b, "a", str, str).Merge("m",
		topology.StreamOf(b, "b", str, str), topology.StreamOf(b, "c", str, str)).To("out", str, str)
	topo := build(t, b)
	logs := map[string][]topology.Record{}
	for _, topic := range []string{"a", "b", "c"} {
		ts := int64(0)
		for i := range 20 + rng.Intn(40) {
			ts += int64(rng.Intn(4))
			logs[topic] = append(logs[topic], topology.Record{Topic: topic, Offset: int64(i),
				Key: []byte(topic), Value: []byte(fmt.Sprint(i)), Timestamp: ms(ts)})
		}
	}
	render := func(outs []topology.Output) string {
		s := ""
		for _, o := range outs {
			s += fmt.Sprintf("%s:%s@%d ", o.Key, o.Value, o.Timestamp.UnixMilli())
		}
		return s
	}

	// Reference: everything added, then processed.
	ref, err := topo.NewTask(topology.TaskID{}, memStores{})
	must(t, err)
	for _, topic := range []string{"a", "b", "c"} {
		for _, r := range logs[topic] {
			must(t, ref.Add(r))
		}
	}
	all := func(topology.TopicPartition) bool { return true }
	for ref.Ready(all) {
		_, err := ref.Process(context.Background())
		must(t, err)
	}
	want := render(ref.TakeOutputs())

	for round := range 50 {
		task, err := topo.NewTask(topology.TaskID{}, memStores{})
		must(t, err)
		next := map[string]int64{} // next offset to add, per topic
		atEnd := func(tp topology.TopicPartition) bool { return next[tp.Topic] >= int64(len(logs[tp.Topic])) }
		var outs []topology.Output
		for {
			var open []string
			for _, topic := range []string{"a", "b", "c"} {
				if !atEnd(topology.TopicPartition{Topic: topic}) {
					open = append(open, topic)
				}
			}
			if len(open) == 0 && !task.Ready(atEnd) {
				break
			}
			switch n := rng.Intn(10); {
			case n < 6 && len(open) > 0:
				topic := open[rng.Intn(len(open))]
				must(t, task.Add(logs[topic][next[topic]]))
				next[topic]++
			case n < 9:
				if task.Ready(atEnd) {
					_, err := task.Process(context.Background())
					must(t, err)
				}
			default:
				held, done := task.Held(), task.Offsets()
				for _, topic := range []string{"a", "b", "c"} {
					tp := topology.TopicPartition{Topic: topic}
					off, ok := held[tp]
					if buffered := next[topic] > done[tp]; ok != buffered || ok && off != done[tp] {
						t.Fatalf("seed %d: %s: held %d (%v), processed up to %d, added up to %d", seed, topic, off, ok, done[tp], next[topic])
					}
				}
			}
			outs = append(outs, task.TakeOutputs()...)
		}
		if got := render(outs); got != want {
			t.Fatalf("seed %d round %d: merged\n%s\nwant\n%s", seed, round, got, want)
		}
	}

	// Not ready while an empty partition may still give an earlier record.
	task, err := topo.NewTask(topology.TaskID{}, memStores{})
	must(t, err)
	must(t, task.Add(logs["a"][0]))
	if task.Ready(func(tp topology.TopicPartition) bool { return tp.Topic == "b" }) {
		t.Fatal("ready while c, empty, is not caught up")
	}
	if !task.Ready(all) {
		t.Fatal("not ready with a buffered and b, c caught up")
	}
	if got := len(task.Inputs()); got != 3 {
		t.Fatalf("%d inputs, want 3", got)
	}
}
