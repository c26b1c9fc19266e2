package topology_test

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// ttlOps runs the command in each record's value on its key, in store "s":
// "put:v", "putat:v:ms", "del", "get" (forwards the value or "-"), "all"
// (forwards every entry as k=v,...).
type ttlOps struct {
	s *topology.KVStore[string, string]
}

func (p *ttlOps) Init(ctx *topology.Context[string, string]) (err error) {
	p.s, err = topology.KV(ctx, "s", str, str)
	return err
}

func (p *ttlOps) Process(ctx *topology.Context[string, string], k, v string) error {
	cmd, arg, _ := strings.Cut(v, ":")
	switch cmd {
	case "put":
		return p.s.Put(k, arg)
	case "putat":
		val, at, _ := strings.Cut(arg, ":")
		n, err := strconv.ParseInt(at, 10, 64)
		if err != nil {
			return err
		}
		return p.s.PutAt(k, val, ms(n))
	case "del":
		return p.s.Delete(k)
	case "get":
		x, ok, err := p.s.Get(k)
		if err != nil {
			return err
		}
		if !ok {
			x = "-"
		}
		return ctx.Forward(k, x)
	case "all":
		var es []string
		err := p.s.All(func(k, v string) (bool, error) { es = append(es, k+"="+v); return true, nil })
		if err != nil {
			return err
		}
		return ctx.Forward(k, strings.Join(es, ","))
	}
	return fmt.Errorf("unknown command %q", v)
}

func ttlTopology(t testing.TB, opts ...topology.StoreOpt) *topology.Topology {
	t.Helper()
	b := topology.New("app")
	topology.Process(topology.StreamOf(b, "in", str, str), "ops",
		func() topology.Processor[string, string, string, string] { return &ttlOps{} },
		topology.KeyValueStore("s", opts...)).To("out", str, str)
	return build(t, b)
}

type ttlRig struct {
	t   testing.TB
	d   *topologytest.Driver
	in  *topologytest.InputTopic[string, string]
	out *topologytest.OutputTopic[string, string]
}

func newTTLRig(t testing.TB, ttl time.Duration) *ttlRig {
	d := driver(t, ttlTopology(t, topology.TTL(ttl)), topologytest.Changelogs())
	return &ttlRig{t: t, d: d, in: topologytest.Input(d, "in", str, str), out: topologytest.Output(d, "out", str, str)}
}

func (r *ttlRig) pipe(k, v string, at int64) {
	r.t.Helper()
	must(r.t, r.in.Pipe(k, v, ms(at)))
}

// get pipes a "get" at time at and returns what it forwarded.
func (r *ttlRig) get(k string, at int64) string {
	r.t.Helper()
	r.pipe(k, "get", at)
	got, err := r.out.ReadKeyValues()
	must(r.t, err)
	if len(got) != 1 {
		r.t.Fatalf("get %s at %d: forwarded %v", k, at, got)
	}
	return got[0].Value
}

// changelog returns the store's changelog records since the last call, as
// k=v (k=nil for a tombstone).
func (r *ttlRig) changelog(store string, from *int) []string {
	var out []string
	recs := r.d.Outputs("app-" + store + "-changelog")
	for _, o := range recs[*from:] {
		v := "nil"
		if o.Value != nil {
			v = string(o.Value)
		}
		out = append(out, string(o.Key)+"="+v)
	}
	*from = len(recs)
	return out
}

func TestTTLExpiresAfterIdleStreamTimeNotBefore(t *testing.T) {
	r := newTTLRig(t, 10*time.Millisecond)
	seen := 0
	r.pipe("a", "put:1", 100)
	if got := r.changelog("s", &seen); fmt.Sprint(got) != "[a=1]" {
		t.Fatalf("changelog after put: %v", got)
	}
	r.pipe("x", "put:x", 109) // stream time 109: a idle for 9ms
	if got := r.get("a", 109); got != "1" {
		t.Fatalf("a at 109 (idle 9ms of 10ms): %q, want 1", got)
	}
	r.changelog("s", &seen)
	// The record that moves stream time to 110 already does not see a.
	if got := r.get("a", 110); got != "-" {
		t.Fatalf("a at 110 (idle 10ms): %q, want it expired", got)
	}
	if got := r.changelog("s", &seen); fmt.Sprint(got) != "[a=nil]" {
		t.Fatalf("changelog at expiry: %v, want a tombstone for a", got)
	}
	if got := r.get("x", 118); got != "x" {
		t.Fatalf("x at 118: %q", got)
	}
	// A late record does not move stream time back: x stays as it is.
	if got := r.get("x", 50); got != "x" {
		t.Fatalf("x read by a late record: %q", got)
	}
	if got := r.get("x", 119); got != "-" {
		t.Fatalf("x at 119: %q, want expired", got)
	}
}

func TestTTLWriteRefreshesReadDoesNot(t *testing.T) {
	r := newTTLRig(t, 10*time.Millisecond)
	r.pipe("a", "put:1", 0)
	r.pipe("b", "put:1", 5)
	r.pipe("a", "put:2", 6)               // refreshes a to 6
	if got := r.get("b", 9); got != "1" { // a read of b at 9...
		t.Fatalf("b at 9: %q", got)
	}
	if got := r.get("b", 15); got != "-" { // ...does not keep it
		t.Fatalf("b at 15: %q, want expired: reads do not refresh", got)
	}
	if got := r.get("a", 15); got != "2" {
		t.Fatalf("a at 15 (written at 6): %q", got)
	}
	if got := r.get("a", 16); got != "-" {
		t.Fatalf("a at 16 (written at 6): %q, want expired", got)
	}
	// PutAt stamps the write with its own time; one already past the
	// TTL deletes the key, and a write time never goes back.
	r.pipe("c", "putat:1:20", 20)
	r.pipe("c", "putat:2:12", 21)
	if got := r.get("c", 29); got != "2" {
		t.Fatalf("c at 29 (written at 20, then stamped 12): %q", got)
	}
	r.pipe("d", "putat:1:19", 29)
	if got := r.get("d", 29); got != "-" {
		t.Fatalf("d stamped 19 at stream time 29: %q, want gone", got)
	}
	if got := r.get("c", 30); got != "-" {
		t.Fatalf("c at 30: %q, want expired", got)
	}
}

func TestTTLRestoreFromChangelogDoesNotBringKeysBack(t *testing.T) {
	r := newTTLRig(t, 10*time.Millisecond)
	r.pipe("a", "put:1", 0)
	r.pipe("b", "put:2", 8)
	r.pipe("c", "put:3", 10) // expires a
	must(t, r.d.RestoreFromChangelogs())
	if got := r.get("a", 10); got != "-" {
		t.Fatalf("a after restore: %q, want it still gone", got)
	}
	// The expiry index came back too: b still expires at 18, not later.
	if got := r.get("b", 17); got != "2" {
		t.Fatalf("b at 17 after restore: %q", got)
	}
	must(t, r.d.RestoreFromChangelogs())
	if got := r.get("b", 18); got != "-" {
		t.Fatalf("b at 18 after restore: %q, want expired", got)
	}
	r.pipe("k", "all", 19)
	if got, _ := r.out.ReadKeyValues(); len(got) != 1 || got[0].Value != "c=3" {
		t.Fatalf("store after restores: %v, want only c=3", got)
	}
}

func TestTTLDeleteAndRangeKeepIndexInStep(t *testing.T) {
	r := newTTLRig(t, 10*time.Millisecond)
	seen := 0
	r.pipe("a", "put:1", 0)
	r.pipe("a", "del", 1)
	r.pipe("a", "put:2", 5)
	r.changelog("s", &seen)
	if got := r.get("a", 14); got != "2" {
		t.Fatalf("a at 14 (deleted, then written at 5): %q", got)
	}
	if got := r.changelog("s-ttl", new(int)); len(got) == 0 {
		t.Fatal("the expiry index has no changelog records")
	}
	store, err := r.d.Store("s-ttl")
	must(t, err)
	r.pipe("a", "del", 14)
	it := store.Range(nil, nil)
	for it.Next() {
		t.Errorf("index entry %q left after the last key was deleted", it.Key())
	}
	must(t, it.Close())
}

func TestTTLSweepsInBatchesAndReadsNeverSeeExpiredKeys(t *testing.T) {
	r := newTTLRig(t, 10*time.Millisecond)
	const n = 2500 // more than one sweep's batch
	for i := 0; i < n; i++ {
		r.pipe(fmt.Sprintf("k%05d", i), "put:v", int64(i/100))
	}
	r.pipe("new", "put:v", 1000)
	// The first sweep stopped at its batch: reads still hide the rest.
	if got := r.get(fmt.Sprintf("k%05d", n-1), 1000); got != "-" {
		t.Fatalf("last key after a jump of stream time: %q, want expired", got)
	}
	r.pipe("k", "all", 1000)
	if got, _ := r.out.ReadKeyValues(); len(got) != 1 || got[0].Value != "new=v" {
		t.Fatalf("all after the jump: %v", got)
	}
	r.pipe("x", "get", 1001)
	r.pipe("x", "get", 1002)
	s, err := r.d.Store("s")
	must(t, err)
	it := s.Range(nil, nil)
	var left []string
	for it.Next() {
		left = append(left, string(it.Key()))
	}
	must(t, it.Close())
	if fmt.Sprint(left) != "[new]" {
		t.Fatalf("store after three more sweeps holds %d keys, want only new", len(left))
	}
}

func TestTTLRefusedAtBuild(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second, 500 * time.Microsecond} {
		b := topology.New("app")
		topology.Process(topology.StreamOf(b, "in", str, str), "ops",
			func() topology.Processor[string, string, string, string] { return &ttlOps{} },
			topology.KeyValueStore("s", topology.TTL(d)))
		_, err := b.Build()
		if !errors.Is(err, topology.ErrBadOption) || !strings.Contains(err.Error(), `TTL of store "s"`) ||
			!strings.Contains(err.Error(), "at least 1ms") {
			t.Errorf("TTL(%s): Build error %v; want ErrBadOption naming the store and the minimum", d, err)
		}
	}
}

func TestTTLDescribe(t *testing.T) {
	got := ttlTopology(t, topology.TTL(time.Hour)).Describe()
	for _, want := range []string{
		"Processor ops (processor, stores s, s-ttl)",
		"s (key-value, sub-topology 0, changelog app-s-changelog, ttl 1h0m0s)",
		"s-ttl (key-value, sub-topology 0, changelog app-s-ttl-changelog, expiry index of s)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Describe lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(ttlTopology(t).Describe(), "ttl") {
		t.Error("a store without TTL mentions one")
	}
}

// TestTTLModel runs random writes, deletes, reads and restores against a
// model: a key is visible while stream time - its last write < ttl.
func TestTTLModel(t *testing.T) {
	for run := 0; run < 20; run++ {
		seed := time.Now().UnixNano() + int64(run)
		if s, err := strconv.ParseInt(os.Getenv("TTL_SEED"), 10, 64); err == nil {
			seed = s
		}
		t.Run(strconv.Itoa(run), func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("seed %d", seed)
				}
			}()
			ttlModelRun(t, seed)
		})
	}
}

func ttlModelRun(t *testing.T, seed int64) {
	rnd := rand.New(rand.NewSource(seed))
	const ttl = 20
	r := newTTLRig(t, ttl*time.Millisecond)
	type entry struct {
		v  string
		at int64
	}
	model := map[string]entry{}
	var st int64 = -1 << 62 // stream time of the task core; afresh after a restore
	now := int64(0)
	visible := func(k string) (string, bool) {
		e, ok := model[k]
		if !ok || st-e.at >= ttl {
			return "", false
		}
		return e.v, true
	}
	for step := 0; step < 400; step++ {
		now += int64(rnd.Intn(4))
		ts := now
		if rnd.Intn(8) == 0 {
			ts -= int64(rnd.Intn(30)) // late
		}
		k := fmt.Sprintf("k%d", rnd.Intn(12))
		op := rnd.Intn(10)
		if op == 9 {
			must(t, r.d.RestoreFromChangelogs())
			st = -1 << 62
			continue
		}
		st = max(st, ts)
		for mk, e := range model { // what the sweep does
			if st-e.at >= ttl {
				delete(model, mk)
			}
		}
		if os.Getenv("TTL_SEED") != "" {
			t.Logf("step %d: %s at %d (stream time %d) model %v", step, k, ts, st, model)
		}
		switch {
		case op < 4:
			v := strconv.Itoa(step)
			r.pipe(k, "put:"+v, ts)
			at := st
			if e, ok := model[k]; ok && e.at > at {
				at = e.at
			}
			model[k] = entry{v, at}
		case op < 5:
			r.pipe(k, "del", ts)
			delete(model, k)
		case op < 7:
			want, ok := visible(k)
			if !ok {
				want = "-"
			}
			if got := r.get(k, ts); got != want {
				t.Fatalf("step %d: get %s at %d (stream time %d): %q, want %q", step, k, ts, st, got, want)
			}
		default:
			r.pipe(k, "all", ts)
			var keys, want []string
			for mk := range model {
				keys = append(keys, mk)
			}
			sort.Strings(keys)
			for _, mk := range keys {
				if v, ok := visible(mk); ok {
					want = append(want, mk+"="+v)
				}
			}
			got, err := r.out.ReadKeyValues()
			must(t, err)
			if len(got) != 1 || got[0].Value != strings.Join(want, ",") {
				t.Fatalf("step %d: all at %d: %v, want %v", step, ts, got, want)
			}
		}
	}
}

// An aggregate with a TTL forwards an expired key as a delete, and the
// key's next record counts from zero again.
func TestTTLCountForwardsExpiryAsDelete(t *testing.T) {
	b := topology.New("app")
	counts := topology.GroupByKey(topology.StreamOf(b, "in", str, str), str, str).Count("counts", topology.TTL(10*time.Millisecond))
	counts.To("out", str, i64)
	topology.JoinTable(topology.StreamOf(b, "probe", str, str), counts, "probe-counts",
		func(_, _ string, n int64) int64 { return n }).To("probed", str, i64)
	d := driver(t, build(t, b), topologytest.Changelogs())
	in := topologytest.Input(d, "in", str, str)
	probe := topologytest.Input(d, "probe", str, str)
	must(t, in.Pipe("a", "x", ms(0)))
	must(t, in.Pipe("a", "x", ms(5)))
	must(t, in.Pipe("b", "x", ms(14)))
	must(t, probe.Pipe("a", "?", ms(14)))
	must(t, in.Pipe("b", "x", ms(15))) // a expires: written at 5
	must(t, probe.Pipe("a", "?", ms(15)))
	must(t, in.Pipe("a", "x", ms(16)))
	recs, err := topologytest.Output(d, "out", str, i64).ReadAll()
	must(t, err)
	var got []string
	for _, r := range recs {
		v := fmt.Sprint(r.Value)
		if r.Tombstone {
			v = "nil"
		}
		got = append(got, fmt.Sprintf("%s=%s@%d", r.Key, v, r.Timestamp.UnixMilli()))
	}
	if want := "[a=1@0 a=2@5 b=1@14 a=nil@15 b=2@15 a=1@16]"; fmt.Sprint(got) != want {
		t.Fatalf("table updates %v, want %s", got, want)
	}
	if got := readKVs(t, d, "probed", str, i64); fmt.Sprint(got) != "[{a 2}]" {
		t.Fatalf("stream-table join: %v, want only the probe before expiry to match", got)
	}
	b2 := topology.New("app")
	topology.GroupByKey(topology.StreamOf(b2, "in", str, str), str, str).Count("counts", topology.TTL(0))
	if _, err := b2.Build(); !errors.Is(err, topology.ErrBadOption) {
		t.Fatalf("Count with TTL(0): %v, want ErrBadOption", err)
	}
}

// RestoreFromChangelogs keeps a windowed count's results: its changelog
// leaves the time index out, and the restore derives it again, as the
// runtime does.
func TestDriverRestoreFromChangelogsWindows(t *testing.T) {
	run := func(restore bool) []kv[string, int64] {
		b := topology.New("app")
		topology.GroupByKey(topology.StreamOf(b, "in", str, str), str, str).
			WindowedBy(topology.Tumbling(10*time.Millisecond).Grace(0).EmitFinal()).Count("w").
			ToStream("w-out").To("out", topology.WindowedSerde(str), i64)
		d := driver(t, build(t, b), topologytest.Changelogs())
		in := topologytest.Input(d, "in", str, str)
		for i, k := range []string{"a", "b", "a", "c", "a", "b"} {
			must(t, in.Pipe(k, "v", ms(int64(i*3))))
			if restore && i == 2 {
				must(t, d.RestoreFromChangelogs())
			}
		}
		for _, r := range d.Outputs("app-w-changelog") {
			if r.Key[0] != 'k' {
				t.Fatalf("changelog holds index key %q", r.Key)
			}
		}
		must(t, in.Pipe("z", "v", ms(100)))
		recs, err := topologytest.Output(d, "out", topology.WindowedSerde(str), i64).ReadAll()
		must(t, err)
		var out []kv[string, int64]
		for _, r := range recs {
			out = append(out, kv[string, int64]{fmt.Sprintf("%s@%d", r.Key.Key, r.Key.Start.UnixMilli()), r.Value})
		}
		return out
	}
	want := run(false)
	if len(want) == 0 {
		t.Fatal("no windows closed")
	}
	wantKVs(t, run(true), want)
}

// expiryNotices forwards "expired" for each key its store expires.
type expiryNotices struct{ ttlOps }

func (p *expiryNotices) Init(ctx *topology.Context[string, string]) error {
	if err := p.ttlOps.Init(ctx); err != nil {
		return err
	}
	return ctx.OnExpire("s", func(key []byte) error { return ctx.ForwardAt(string(key), "expired", ctx.StreamTime()) })
}

// A processor hears of each key its TTL store expires (OnExpire), at the
// record that moved stream time past it, before that record; OnExpire
// refuses a store without a TTL.
func TestOnExpireTellsTheProcessor(t *testing.T) {
	mk := func(opts ...topology.StoreOpt) *topology.Topology {
		b := topology.New("app")
		topology.Process(topology.StreamOf(b, "in", str, str), "ops",
			func() topology.Processor[string, string, string, string] { return &expiryNotices{} },
			topology.KeyValueStore("s", opts...)).To("out", str, str)
		return build(t, b)
	}
	if _, err := topologytest.New(mk()); !errors.Is(err, topology.ErrBadOption) || !strings.Contains(err.Error(), "no TTL") {
		t.Fatalf("OnExpire on a store without a TTL: %v, want ErrBadOption", err)
	}
	d := driver(t, mk(topology.TTL(10*time.Millisecond)))
	in, out := topologytest.Input(d, "in", str, str), topologytest.Output(d, "out", str, str)
	must(t, in.Pipe("a", "put:1", ms(0)))
	must(t, in.Pipe("b", "put:2", ms(5)))
	must(t, in.Pipe("b", "get", ms(10))) // a expires here, first
	got, err := out.ReadKeyValues()
	must(t, err)
	if len(got) != 2 || got[0].Key != "a" || got[0].Value != "expired" || got[1].Key != "b" || got[1].Value != "2" {
		t.Fatalf("forwarded %v, want a expired, then b's get", got)
	}
}
