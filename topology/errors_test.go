package topology_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

var errBad = errors.New("bad value")

func header(hs []codec.Header, key string) (string, bool) {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func TestDeadLetterKeepsBytesAndNamesTheError(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "nums", str, i64, topology.OnBadInput(topology.DeadLetter)).To("out", str, i64)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "nums", str, i64)
	must(t, in.Pipe("a", 1, ms(5)))
	// 3 bytes cannot be an int64.
	must(t, d.PipeRaw("nums", []byte("b"), []byte{1, 2, 3}, ms(7), codec.Header{Key: "orig", Value: []byte("h")}))
	must(t, in.Pipe("c", 3, ms(9)))

	wantKVs(t, readKVs(t, d, "out", str, i64), []kv[string, int64]{{"a", 1}, {"c", 3}})
	dl := d.DeadLetters()
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	r := dl[0]
	if r.Topic != "app-dlq" || string(r.Key) != "b" || string(r.Value) != "\x01\x02\x03" {
		t.Fatalf("dead letter %+v", r)
	}
	want := map[string]string{
		"orig":           "h",
		"weir.topic":     "nums",
		"weir.partition": "0",
		"weir.offset":    "1",
		"weir.timestamp": strconv.FormatInt(ms(7).UnixMilli(), 10),
	}
	for k, v := range want {
		if got, ok := header(r.Headers, k); !ok || got != v {
			t.Errorf("header %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	if e, _ := header(r.Headers, "weir.error"); !strings.Contains(e, "int64 needs 8 bytes") {
		t.Errorf("weir.error = %q", e)
	}
	if s := d.Stats(); s.DeadLettered != 1 {
		t.Errorf("DeadLettered = %d", s.DeadLettered)
	}
}

// The stats tell dead letters that did not decode from those a processor
// rejected: weir_records_dead_lettered_total{kind} reads them.
func TestDeadLettersCountedByKind(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "nums", str, i64, topology.OnBadInput(topology.DeadLetter)).
		FilterE("positive", func(_ string, v int64) (bool, error) {
			if v < 0 {
				return false, errBad
			}
			return true, nil
		}).To("out", str, i64)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "nums", str, i64)
	must(t, in.Pipe("a", 1, ms(1)))
	must(t, d.PipeRaw("nums", []byte("b"), []byte{1}, ms(2)))
	must(t, in.Pipe("c", -1, ms(3)))
	must(t, in.Pipe("d", -2, ms(4)))
	if s := d.Stats(); s.DeadLettered != 3 || s.DeadLetteredUndecodable != 1 || s.RecordsOut != 1 {
		t.Fatalf("stats %+v, want 3 dead letters of which 1 undecodable, 1 output", s)
	}
}

func TestSkipCountsDecodeErrors(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "nums", str, i64, topology.OnBadInput(topology.Skip)).To("out", str, i64)
	d := driver(t, build(t, b))
	must(t, d.PipeRaw("nums", []byte("x"), []byte("short"), ms(1)))
	must(t, d.PipeRaw("nums", []byte("y"), []byte("s"), ms(2)))
	if s := d.Stats(); s.Skipped != 2 || s.RecordsOut != 0 || s.DeadLettered != 0 {
		t.Fatalf("stats %+v", s)
	}
	task, _ := d.Task(topology.TaskID{})
	if off := task.Offsets()[topology.TopicPartition{Topic: "nums"}]; off != 2 {
		t.Fatalf("next offset %d, want 2: skipped records are consumed", off)
	}
}

func TestFailNamesTopicPartitionOffset(t *testing.T) {
	b := topology.New("app")
	s := topology.StreamOf(b, "in", str, str, topology.OnBadInput(topology.Fail))
	s.FilterE("check", func(k, v string) (bool, error) {
		if v == "boom" {
			return false, errBad
		}
		return true, nil
	}).To("out", str, str)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "in", str, str)
	must(t, in.Pipe("k", "ok", ms(1)))
	err := in.Pipe("k", "boom", ms(2))
	if !errors.Is(err, topology.ErrRecordFailed) || !errors.Is(err, errBad) {
		t.Fatalf("err = %v, want ErrRecordFailed wrapping errBad", err)
	}
	for _, part := range []string{"topic in", "partition 0", "offset 1", "check"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %q", err, part)
		}
	}
	if err := in.Pipe("k", "ok", ms(3)); !errors.Is(err, topology.ErrTaskFailed) {
		t.Fatalf("after failure: %v, want ErrTaskFailed", err)
	}
	task, _ := d.Task(topology.TaskID{})
	if off := task.Offsets()[topology.TopicPartition{Topic: "in"}]; off != 1 {
		t.Fatalf("next offset %d, want 1: the failed record is not consumed", off)
	}
}

func TestTaskDefaultPolicyAppliesToUnsetSources(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "in", str, i64).To("out", str, i64)
	d := driver(t, build(t, b), topologytest.TaskOpts(topology.DefaultBadInput(topology.Skip)))
	must(t, d.PipeRaw("in", []byte("k"), []byte("x"), ms(1)))
	if s := d.Stats(); s.Skipped != 1 || s.DeadLettered != 0 {
		t.Fatalf("stats %+v, want 1 skipped", s)
	}
}

// With no policy anywhere, the driver dead-letters bad input as a worker
// does (it used to fail the task), and tests can read the dead letters.
func TestDriverDeadLettersByDefaultLikeAWorker(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "in", str, i64).FilterE("check", func(_ string, v int64) (bool, error) {
		if v < 0 {
			return false, errBad
		}
		return true, nil
	}).To("out", str, i64)
	d := driver(t, build(t, b))
	in := topologytest.Input(d, "in", str, i64)
	must(t, d.PipeRaw("in", []byte("short"), []byte("x"), ms(1), codec.Header{Key: "trace", Value: []byte("t1")}))
	must(t, in.Pipe("neg", -1, ms(2)))
	must(t, in.Pipe("ok", 1, ms(3)))
	wantKVs(t, readKVs(t, d, "out", str, i64), []kv[string, int64]{{"ok", 1}})
	dl := d.DeadLetters()
	if len(dl) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dl))
	}
	for i, want := range []struct{ key, offset, err string }{
		{"short", "0", "int64 needs 8 bytes"},
		{"neg", "1", "bad value"},
	} {
		r := dl[i]
		if string(r.Key) != want.key || r.Topic != "app-dlq" {
			t.Fatalf("dead letter %d: %+v", i, r)
		}
		if got, _ := header(r.Headers, codec.HeaderOffset); got != want.offset {
			t.Errorf("dead letter %d: offset header %q, want %q", i, got, want.offset)
		}
		if got, _ := header(r.Headers, codec.HeaderError); !strings.Contains(got, want.err) {
			t.Errorf("dead letter %d: error header %q, want it to contain %q", i, got, want.err)
		}
	}
	if got, _ := header(dl[0].Headers, "trace"); got != "t1" {
		t.Errorf("original header lost: %q", got)
	}
}

func TestStoreErrorsStopTheTaskWhateverThePolicy(t *testing.T) {
	b := topology.New("app")
	topology.GroupByKey(topology.StreamOf(b, "in", str, str, topology.OnBadInput(topology.Skip)), str, str).Count("counts")
	topo := build(t, b)
	task, err := topo.NewTask(topology.TaskID{}, failingStores{})
	must(t, err)
	must(t, task.Add(topology.Record{Topic: "in", Key: []byte("k"), Value: []byte("v")}))
	_, err = task.Process(context.Background())
	if !errors.Is(err, topology.ErrStore) || !errors.Is(err, errDisk) {
		t.Fatalf("err = %v, want ErrStore wrapping errDisk", err)
	}
	if task.Stats().Skipped != 0 {
		t.Fatal("a store failure was skipped as bad input")
	}
}

func TestBuildJoinsEveryWiringError(t *testing.T) {
	b := topology.New("app")
	s := topology.StreamOf(b, "in", str, str)
	topology.StreamOf(b, "in", str, str)                     // topic read twice
	topology.StreamOf[string, string](b, "", str, nil)       // empty topic, nil serde
	s.Filter("f", nil)                                       // nil function
	s.Filter("f", func(string, string) bool { return true }) // duplicate name
	topology.GroupByKey(s, str, str).Count("")               // unnamed stateful op
	topology.Process(s, "p", func() topology.Processor[string, string, string, string] {
		return topology.ProcessorFunc[string, string, string, string](nil)
	}, topology.ExistingStore("nope")) // store used but not declared
	s.To("", str, str) // empty sink topic
	topology.StreamOf(b, "ts", str, str, topology.TimestampFrom(func(k int64, v string, _ time.Time) time.Time { return time.Time{} }))

	_, err := b.Build()
	if err == nil {
		t.Fatal("Build succeeded")
	}
	for _, want := range []error{
		topology.ErrDuplicateTopic, topology.ErrNoTopic, topology.ErrNilSerde, topology.ErrNilFunc,
		topology.ErrDuplicateName, topology.ErrNoName, topology.ErrUnknownStore, topology.ErrBadOption,
	} {
		if !errors.Is(err, want) {
			t.Errorf("joined error lacks %v:\n%v", want, err)
		}
	}
	for _, frag := range []string{`"nope" used by "p"`, `node "f"`, `"in"`} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error does not mention %s:\n%v", frag, err)
		}
	}
}

var errDisk = errors.New("disk on fire")

// failingStores gives stores whose every operation fails.
type failingStores struct{}

func (failingStores) KeyValue(string) (state.KeyValueStore, error) { return failingKV{}, nil }

type failingKV struct{}

func (failingKV) Get([]byte) ([]byte, bool, error) { return nil, false, errDisk }
func (failingKV) Put(_, _ []byte) error            { return errDisk }
func (failingKV) Delete([]byte) error              { return errDisk }
func (failingKV) DeleteRange(_, _ []byte) error    { return errDisk }
func (failingKV) Range(_, _ []byte) state.Iterator { return nil }

func TestProcessorReturningStoreErrorStopsTheTask(t *testing.T) {
	b := topology.New("app")
	topology.Process(topology.StreamOf(b, "in", str, str, topology.OnBadInput(topology.Skip)), "p",
		func() topology.Processor[string, string, string, string] {
			return topology.ProcessorFunc[string, string, string, string](func(ctx *topology.Context[string, string], k, v string) error {
				st, err := ctx.Store("s")
				if err != nil {
					return err
				}
				return st.Put([]byte(k), []byte(v))
			})
		}, topology.KeyValueStore("s"))
	task, err := build(t, b).NewTask(topology.TaskID{}, failingStores{})
	must(t, err)
	must(t, task.Add(topology.Record{Topic: "in", Key: []byte("k"), Value: []byte("v")}))
	if _, err := task.Process(context.Background()); !errors.Is(err, topology.ErrStore) || !errors.Is(err, errDisk) {
		t.Fatalf("err = %v, want ErrStore wrapping errDisk", err)
	}
	if task.Stats().Skipped != 0 {
		t.Fatal("a store failure was skipped as bad input")
	}
}

// An empty topic is reported against the call that took it; it used to
// read "topology: empty topic: source source source-".
func TestEmptyTopicNamesTheOperation(t *testing.T) {
	for _, c := range []struct {
		want string
		wire func(b *topology.Builder)
	}{
		{"topology: StreamOf: empty topic name", func(b *topology.Builder) { topology.StreamOf(b, "", str, str) }},
		{"topology: TableOf: empty topic name", func(b *topology.Builder) { topology.TableOf(b, "", str, str, topology.WithStoreName("t")) }},
		{"topology: GlobalTableOf: empty topic name", func(b *topology.Builder) { topology.GlobalTableOf(b, "", str, str, topology.WithStoreName("g")) }},
		{`topology: To: empty topic name (sink of "source-in")`, func(b *topology.Builder) { topology.StreamOf(b, "in", str, str).To("", str, str) }},
	} {
		b := topology.New("app")
		c.wire(b)
		_, err := b.Build()
		if !errors.Is(err, topology.ErrNoTopic) || err.Error() != c.want {
			t.Errorf("err = %v, want %q wrapping ErrNoTopic", err, c.want)
		}
	}
}
