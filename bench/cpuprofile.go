package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

// CPUCollector takes back-to-back one-second CPU profiles from a process
// serving net/http/pprof (weir run -pprof), so that the profile of any
// interval (a drain, from first record to zero lag) can be put together
// afterwards without knowing its length in advance.
type CPUCollector struct {
	url    string
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	stop    bool
	windows []cpuWindow
	err     error // the last failure, if no window was taken
}

type cpuWindow struct {
	from, to time.Time
	p        *profile.Profile
}

// CollectCPU starts taking profiles from addr (HOST:PORT); it retries
// until the process listens. Stop ends it.
func CollectCPU(addr string) *CPUCollector {
	ctx, cancel := context.WithCancel(context.Background())
	c := &CPUCollector{url: "http://" + addr + "/debug/pprof/profile?seconds=1", cancel: cancel, done: make(chan struct{})}
	go c.loop(ctx)
	return c
}

func (c *CPUCollector) loop(ctx context.Context) {
	defer close(c.done)
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		c.mu.Lock()
		stop := c.stop
		c.mu.Unlock()
		if stop || ctx.Err() != nil {
			return
		}
		from := time.Now()
		p, err := c.take(ctx)
		to := time.Now()
		c.mu.Lock()
		if err != nil {
			c.err = err
		} else {
			c.windows = append(c.windows, cpuWindow{from, to, p})
		}
		c.mu.Unlock()
		if err != nil { // not listening yet, or gone
			retry.Reset(50 * time.Millisecond)
			select {
			case <-ctx.Done():
				return
			case <-retry.C:
			}
		}
	}
}

func (c *CPUCollector) take(ctx context.Context) (*profile.Profile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: %s: %s: %.200s", c.url, resp.Status, b)
	}
	return profile.ParseData(b)
}

// Stop lets the profile being taken finish (at most a second) and takes
// no more; within timeout, else it is cut short.
func (c *CPUCollector) Stop(timeout time.Duration) {
	c.mu.Lock()
	c.stop = true
	c.mu.Unlock()
	select {
	case <-c.done:
	case <-time.After(timeout):
		c.cancel()
		<-c.done
	}
	c.cancel()
}

// Profile merges the windows that overlap [from, to].
func (c *CPUCollector) Profile(from, to time.Time) (*profile.Profile, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ps []*profile.Profile
	for _, w := range c.windows {
		if w.to.After(from) && w.from.Before(to) {
			ps = append(ps, w.p)
		}
	}
	if len(ps) == 0 {
		if c.err != nil {
			return nil, fmt.Errorf("bench: no CPU profile between %s and %s: %w", from.Format(time.TimeOnly), to.Format(time.TimeOnly), c.err)
		}
		return nil, fmt.Errorf("bench: no CPU profile between %s and %s", from.Format(time.TimeOnly), to.Format(time.TimeOnly))
	}
	return profile.Merge(ps)
}

// Categories of CPU time, in the order reports print them.
const (
	CatDecode   = "decode"
	CatTaskCore = "task core"
	CatState    = "state"
	CatEncode   = "encode"
	CatKafka    = "Kafka client"
	CatRuntime  = "Weir runtime loop"
	CatGC       = "GC"
	CatOther    = "other"
)

// Categories lists them in report order.
var Categories = []string{CatDecode, CatTaskCore, CatState, CatEncode, CatKafka, CatRuntime, CatGC, CatOther}

// Share is one category's part of a CPU profile.
type Share struct {
	Category string      `json:"category"`
	Seconds  float64     `json:"cpu_seconds"`
	Percent  float64     `json:"percent"`
	Top      []FuncShare `json:"top,omitempty"`     // the category's heaviest functions: the innermost of the category on each stack
	Callers  []FuncShare `json:"callers,omitempty"` // the heaviest callers from other parts (e.g. the task core function that scans a store)
}

// FuncShare is the CPU time of the samples a function put in its category.
type FuncShare struct {
	Function string  `json:"function"`
	Percent  float64 `json:"percent"` // of the whole profile
}

// Breakdown is where a CPU profile's time went.
type Breakdown struct {
	Seconds float64 `json:"cpu_seconds"` // total CPU in the samples
	Wall    float64 `json:"wall_seconds"`
	Shares  []Share `json:"shares"`
}

// Busy is the CPU time per wall time, in percent of one core.
func (b Breakdown) Busy() float64 {
	if b.Wall == 0 {
		return 0
	}
	return 100 * b.Seconds / b.Wall
}

// gcFuncs mark a sample as garbage collection wherever they are on its
// stack (the mark workers, assists, sweeping, scavenging).
var gcFuncs = []string{"runtime.gc", "runtime.bgsweep", "runtime.bgscavenge", "runtime.markroot", "runtime.scanobject",
	"runtime.sweepone", "runtime.wbBufFlush", "runtime.(*gcWork)", "runtime.(*mheap).reclaim"}

// classify names the category of one function, or "" if it says nothing
// (Go runtime, syscalls, libraries used by several categories): then
// its caller decides.
func classify(fn string) string {
	switch {
	case strings.Contains(fn, "twmb/franz-go"):
		return CatKafka
	case isJSONScanner(fn):
		return "" // shared by Marshal (compacting raw values) and Unmarshal
	case strings.Contains(fn, "weirstream/weir/codec"), strings.Contains(fn, "twmb/avro"), strings.HasPrefix(fn, "encoding/json."):
		if isEncode(fn) {
			return CatEncode
		}
		return CatDecode
	case strings.Contains(fn, "weirstream/weir/state"), strings.Contains(fn, "cockroachdb/"):
		return CatState
	case strings.Contains(fn, "weirstream/weir/topology"), strings.Contains(fn, "weirstream/weir/profile"):
		return CatTaskCore
	case strings.Contains(fn, "weirstream/weir/processor"):
		return CatRuntime
	}
	return ""
}

// isJSONScanner tells encoding/json's syntax scanner, which both
// directions use.
func isJSONScanner(fn string) bool {
	name, ok := strings.CutPrefix(fn, "encoding/json.")
	return ok && (strings.HasPrefix(name, "state") || strings.Contains(name, "scanner") || strings.HasPrefix(name, "checkValid"))
}

// isEncode tells encoding from decoding within the codec packages by the
// function's name (its last path element).
func isEncode(fn string) bool {
	name := fn[strings.LastIndexByte(fn, '/')+1:]
	for _, w := range []string{"ncode", "arshal", "ppend", "Write", "write", "Register"} {
		if strings.Contains(name, w) {
			return !strings.Contains(name, "nmarshal")
		}
	}
	return false
}

// category is the sample's category: GC if a GC function is anywhere on
// its stack, else that of the innermost function with one. It also
// returns the function that decided (the leaf for other) and the caller
// from another part that led there (the first function further out with
// another category; "" if none).
func category(s *profile.Sample) (cat, fn, caller string) {
	var names []string // innermost first, inlined ones too
	for _, loc := range s.Location {
		for _, l := range loc.Line {
			if l.Function != nil {
				names = append(names, l.Function.Name)
			}
		}
	}
	for _, name := range names {
		for _, g := range gcFuncs {
			if strings.HasPrefix(name, g) {
				return CatGC, name, ""
			}
		}
	}
	for i, name := range names {
		if cat = classify(name); cat == "" {
			continue
		}
		for _, out := range names[i+1:] {
			if c := classify(out); c != "" && c != cat {
				return cat, name, out
			}
		}
		return cat, name, ""
	}
	if len(names) > 0 {
		fn = names[0]
	}
	return CatOther, fn, ""
}

// Analyze computes the breakdown of a CPU profile: each sample goes to
// one category (see category), with topN functions per category.
func Analyze(p *profile.Profile, topN int) (Breakdown, error) {
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		return Breakdown{}, fmt.Errorf("bench: not a CPU profile (sample types %v)", p.SampleType)
	}
	secs := map[string]float64{}
	flat := map[string]map[string]float64{}
	callers := map[string]map[string]float64{}
	var total float64
	for _, s := range p.Sample {
		v := float64(s.Value[idx]) / 1e9
		cat, fn, caller := category(s)
		secs[cat] += v
		if flat[cat] == nil {
			flat[cat], callers[cat] = map[string]float64{}, map[string]float64{}
		}
		flat[cat][shortFunc(fn)] += v
		if caller != "" {
			callers[cat][shortFunc(caller)] += v
		}
		total += v
	}
	b := Breakdown{Seconds: total, Wall: float64(p.DurationNanos) / 1e9}
	if total == 0 {
		return b, nil
	}
	for _, c := range Categories {
		sh := Share{Category: c, Seconds: secs[c], Percent: 100 * secs[c] / total}
		sh.Top = heaviest(flat[c], topN, total)
		sh.Callers = heaviest(callers[c], topN, total)
		b.Shares = append(b.Shares, sh)
	}
	return b, nil
}

// heaviest is the n functions of m with the most time, in percent of total.
func heaviest(m map[string]float64, n int, total float64) []FuncShare {
	fns := make([]string, 0, len(m))
	for f := range m {
		fns = append(fns, f)
	}
	sort.Slice(fns, func(i, j int) bool {
		a, b := m[fns[i]], m[fns[j]]
		return a > b || a == b && fns[i] < fns[j]
	})
	var out []FuncShare
	for _, f := range fns[:min(len(fns), n)] {
		out = append(out, FuncShare{Function: f, Percent: 100 * m[f] / total})
	}
	return out
}

// shortFunc drops the import path but the package: github.com/x/y/pkg.F
// -> pkg.F (and .../pebble/v2.F -> pebble/v2.F).
func shortFunc(fn string) string {
	if fn == "" {
		return "?"
	}
	if j := strings.IndexByte(fn, '['); j >= 0 {
		// The import path ends before any type arguments (which hold
		// paths of their own).
		return shortFunc(fn[:j]) + dropTypeArgs(fn[j:])
	}
	i := strings.LastIndexByte(fn, '/')
	if rest := fn[i+1:]; i > 0 && len(rest) > 2 && rest[0] == 'v' && rest[1] >= '0' && rest[1] <= '9' {
		i = strings.LastIndexByte(fn[:i], '/')
	}
	return dropTypeArgs(fn[i+1:])
}

// dropTypeArgs shortens generic instantiations: F[go.shape.x, ...] -> F[…].
func dropTypeArgs(fn string) string {
	var b strings.Builder
	depth := 0
	for _, r := range fn {
		switch {
		case r == '[':
			if depth == 0 {
				b.WriteString("[…]")
			}
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Text is the breakdown as a small table, one category per line.
func (b Breakdown) Text() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "CPU %.1fs in %.1fs of profile (%.0f%% of one core)\n", b.Seconds, b.Wall, b.Busy())
	for _, s := range b.Shares {
		fmt.Fprintf(&sb, "  %-18s %6.1f%% %7.2fs  %s\n", s.Category, s.Percent, s.Seconds, funcList(s.Top, "%s %.1f%%"))
		if len(s.Callers) > 0 {
			fmt.Fprintf(&sb, "  %-18s %6s  %7s  called from %s\n", "", "", "", funcList(s.Callers, "%s %.1f%%"))
		}
	}
	return sb.String()
}

// funcList formats fs with format (function, percent), comma-separated.
func funcList(fs []FuncShare, format string) string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf(format, f.Function, f.Percent))
	}
	return strings.Join(out, ", ")
}
