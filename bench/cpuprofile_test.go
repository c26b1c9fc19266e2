package bench

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// stackProfile builds a CPU profile whose samples are the given stacks
// (innermost function first), each with the given CPU milliseconds.
func stackProfile(stacks map[int64][]string) *profile.Profile {
	p := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		DurationNanos: 2e9,
	}
	fns := map[string]*profile.Function{}
	for ms, stack := range stacks {
		s := &profile.Sample{Value: []int64{ms / 10, ms * 1e6}}
		for _, name := range stack {
			f := fns[name]
			if f == nil {
				f = &profile.Function{ID: uint64(len(fns) + 1), Name: name}
				fns[name] = f
				p.Function = append(p.Function, f)
			}
			loc := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: f}}}
			p.Location = append(p.Location, loc)
			s.Location = append(s.Location, loc)
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

func TestAnalyzeClassifiesByInnermostKnownFunction(t *testing.T) {
	const w = "github.com/weirstream/weir/"
	p := stackProfile(map[int64][]string{
		// memmove under the avro decoder: decode.
		100: {"runtime.memmove", "github.com/twmb/avro.(*decoder).readRecord", w + "codec/avro.(*Serde[...]).Decode", w + "topology.(*sourceNode).process", w + "processor.(*worker).loop"},
		// JSON of the profile state: encode.
		200: {"encoding/json.(*encodeState).marshal", "encoding/json.Marshal", w + "profile.(*profiler).update", w + "processor.(*worker).loop"},
		// Pebble iterator under a state store: state.
		300: {"github.com/cockroachdb/pebble/v2.(*mergingIter).findNextEntry", w + "state.(*pendingIter).Next", w + "profile.(*profiler).fireTimers"},
		// A syscall of the Kafka client: Kafka client.
		400: {"syscall.Syscall", "internal/poll.(*FD).Write", "github.com/twmb/franz-go/pkg/kgo.(*brokerCxn).writeConn"},
		// A GC assist under the task core: GC.
		50: {"runtime.scanobject", "runtime.gcAssistAlloc", "runtime.mallocgc", w + "topology.(*node).forward"},
		// The task core's own work.
		150: {w + "profile.(*profiler).apply", w + "topology.(*node).forward"},
		// Scheduler: other.
		60: {"runtime.futex", "runtime.findRunnable", "runtime.schedule"},
		// JSON's scanner works for the side that calls it: here Marshal.
		30: {"encoding/json.stateInString", "encoding/json.(*scanner).eof", "encoding/json.appendCompact", "encoding/json.Marshal", w + "topology.(*KVStore[...]).Put"},
		// The runtime loop itself.
		40: {"runtime.mapaccess", w + "processor.(*worker).commit"},
	})
	b, err := Analyze(p, 2)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(b.Seconds-1.33) > 1e-9 || b.Wall != 2 {
		t.Fatalf("total %vs over %vs, want 1.33s over 2s", b.Seconds, b.Wall)
	}
	want := map[string]float64{CatDecode: 0.1, CatEncode: 0.23, CatState: 0.3, CatKafka: 0.4, CatGC: 0.05, CatTaskCore: 0.15, CatOther: 0.06, CatRuntime: 0.04}
	if len(b.Shares) != len(Categories) {
		t.Fatalf("%d shares, want one per category: %+v", len(b.Shares), b.Shares)
	}
	for i, s := range b.Shares {
		if s.Category != Categories[i] {
			t.Errorf("share %d is %s, want %s", i, s.Category, Categories[i])
		}
		if math.Abs(s.Seconds-want[s.Category]) > 1e-9 {
			t.Errorf("%s: %vs, want %vs", s.Category, s.Seconds, want[s.Category])
		}
	}
	if top := b.Shares[2].Top; len(top) != 1 || top[0].Function != "pebble/v2.(*mergingIter).findNextEntry" {
		t.Errorf("state's top functions %+v, want Pebble's iterator", top)
	}
	if c := b.Shares[2].Callers; len(c) != 1 || c[0].Function != "profile.(*profiler).fireTimers" {
		t.Errorf("state's callers %+v, want the task core's timer scan", c)
	}
	if c := b.Shares[0].Callers; len(c) != 1 || c[0].Function != "topology.(*sourceNode).process" {
		t.Errorf("decode's callers %+v, want the source node", c)
	}
	if txt := b.Text(); !bytes.Contains([]byte(txt), []byte("Kafka client")) {
		t.Errorf("text breakdown lacks the Kafka client:\n%s", txt)
	}
	for in, want := range map[string]string{
		"github.com/weirstream/weir/codec/avro.(*Serde[go.shape.struct { A string \"avro:\\\"a\\\"\" },go.shape.int]).Decode": "avro.(*Serde[…]).Decode",
		"github.com/cockroachdb/pebble/v2.(*Iterator).Next":                                                                   "pebble/v2.(*Iterator).Next",
		"github.com/weirstream/weir/topology.Map[...].func1":                                                                  "topology.Map[…].func1",
		"runtime.memmove": "runtime.memmove",
	} {
		if got := shortFunc(in); got != want {
			t.Errorf("shortFunc(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := Analyze(&profile.Profile{SampleType: []*profile.ValueType{{Type: "alloc_space"}}}, 1); err == nil {
		t.Error("Analyze took a heap profile")
	}
}

// TestCPUCollector takes profiles from a pprof handler (retrying after
// a failure) and merges those of an interval.
func TestCPUCollector(t *testing.T) {
	var failed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		if failed.CompareAndSwap(false, true) {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		pprof.Profile(w, r)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := CollectCPU(srv.Listener.Addr().String())
	defer c.Stop(0)
	from := time.Now()
	// Busy for a while, so that a window holds samples.
	x := 0
	for time.Since(from) < 1500*time.Millisecond {
		x++
	}
	to := time.Now()
	c.Stop(5 * time.Second)
	p, err := c.Profile(from, to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Analyze(p, 1); err != nil {
		t.Fatalf("the merged profile: %v", err)
	}
	if p.DurationNanos < int64(time.Second) {
		t.Errorf("merged profile lasts %v, want at least a window", time.Duration(p.DurationNanos))
	}
	if !failed.Load() {
		t.Error("the handler was never asked")
	}
	if _, err := c.Profile(to.Add(time.Hour), to.Add(2*time.Hour)); err == nil {
		t.Error("a profile of an interval with no window")
	}
	_ = x
}
