package bench

import (
	"bytes"
	"image/png"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/profile"
)

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 1000; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want float64
	}{{0.5, 500}, {0.99, 990}, {0.999, 999}, {1, 1000}, {0, 1}} {
		if got := Percentile(ds, c.q); got != c.want {
			t.Errorf("Percentile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := Percentile(nil, 0.5); got != 0 {
		t.Errorf("Percentile(empty) = %v, want 0", got)
	}
}

func TestLatenciesUseTheVersionsEvent(t *testing.T) {
	t0 := time.Unix(1000, 0)
	times := map[string][]time.Time{"c": {t0, t0.Add(time.Second)}}
	got := Latencies([]Update{
		{Customer: "c", Version: 2, Appended: t0.Add(1500 * time.Millisecond)},
		{Customer: "c", Version: 1, Appended: t0.Add(100 * time.Millisecond)},
		{Customer: "c", Version: 3, Appended: t0}, // unknown version: skipped
		{Customer: "x", Version: 1, Appended: t0},
	}, times)
	want := []time.Duration{100 * time.Millisecond, 500 * time.Millisecond}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Latencies = %v, want %v", got, want)
	}
}

func TestCompareFindsEveryField(t *testing.T) {
	a := map[string]Profile{
		"c1": {CustomerID: "c1", Version: 3, ViewsTotal: 2, TopCategories: []string{"books"}, Segment: "vip", Country: "DE"},
		"c2": {CustomerID: "c2", Version: 1},
	}
	b := map[string]Profile{
		"c1": {CustomerID: "c1", Version: 3, ViewsTotal: 2, TopCategories: []string{"bags"}, Segment: "vip", Country: "FR"},
		"c3": {CustomerID: "c3", Version: 1},
	}
	got := Compare(a, b)
	var fields []string
	for _, m := range got {
		fields = append(fields, m.Customer+"/"+m.Field)
	}
	want := "c1/country c1/top_categories c2/present c3/present"
	if strings.Join(fields, " ") != want {
		t.Fatalf("Compare fields = %v, want %s", fields, want)
	}
	if m := Compare(a, a); len(m) != 0 {
		t.Fatalf("Compare(a, a) = %v, want none", m)
	}
}

func TestCheckModel(t *testing.T) {
	e := &Expect{Version: 3, ViewsTotal: 2, Purchases: 1, LifetimeValueCents: 500,
		categories: map[string]int64{"shoes": 1, "bags": 1, "books": 2, "toys": 1}}
	ok := Profile{Version: 3, ViewsTotal: 2, Purchases: 1, LifetimeValueCents: 500, TopCategories: []string{"books", "bags", "shoes"}}
	if m := CheckModel(map[string]Profile{"c": ok}, map[string]*Expect{"c": e}); len(m) != 0 {
		t.Fatalf("CheckModel(matching) = %v", m)
	}
	bad := ok
	bad.LifetimeValueCents = 400
	if m := CheckModel(map[string]Profile{"c": bad}, map[string]*Expect{"c": e}); len(m) != 1 || m[0].Field != "lifetime_value_cents" {
		t.Fatalf("CheckModel(bad value) = %v, want one lifetime_value_cents mismatch", m)
	}
}

func TestReadProcOfSelf(t *testing.T) {
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.PeakRSS <= 0 || s.RSS <= 0 || s.PeakRSS < s.RSS {
		t.Fatalf("ReadProc(self) = %+v: want 0 < RSS <= peak RSS", s)
	}
}

func TestResultsRender(t *testing.T) {
	r := &Results{Date: "2026-01-01T000000Z", GitSHA: "abc", Systems: []*SystemResult{
		{Name: "weir", Available: true, Throughput: 20000, KillToOutputSecs: 1.5},
		{Name: "kstreams", Available: true, Throughput: 10000, KillToOutputSecs: 3, KillRestoredRecords: 7},
	}}
	r.Correctness.Compared = true
	r.Systems[0].CPUProfile = ".cache/bench/x/weir-cpu.pprof"
	r.Systems[0].CPUBreakdown = &Breakdown{Seconds: 2, Wall: 1, Shares: []Share{{Category: CatState, Seconds: 1.5, Percent: 75,
		Top: []FuncShare{{Function: "state.(*pendingIter).Next", Percent: 60}}}}}
	r.Scaling = []*ScaleRun{{Name: "2 workers", Workers: 2, Partitions: 12, Events: 150000, Throughput: 4000, CPUPer1000Events: 0.2, PeakRSSBytes: 100 << 20},
		{Name: "one partition, one worker", Workers: 1, Partitions: 1, Error: "boom"}}
	md := r.Markdown("x.json")
	for _, want := range []string{"| Throughput (events/s, higher is better) | 20000 | 10000 | 2.00 |",
		"| Records restored after kill -9 (records, lower is better) | 0 | 7 | — |", "identical in both systems",
		"## Where the time of weir's drain goes", "| state | 75.0% | 1.50 | `state.(*pendingIter).Next` 60.0% |  |", "go tool pprof -top .cache/bench/x/weir-cpu.pprof",
		"| 2 workers | 2 | 12 | 150000 | 4000 | 0.2 | 100.0 |", "| one partition, one worker | 1 | 1 | | failed: boom | | |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	var buf bytes.Buffer
	if err := r.Chart(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("chart is not a PNG: %v", err)
	}
	if img.Bounds().Dx() < 100 || img.Bounds().Dy() < 100 {
		t.Fatalf("chart is %v, too small to hold anything", img.Bounds())
	}
	// Both systems' bars are drawn, in their colours.
	seen := map[[3]uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	if !seen[[3]uint32{38, 110, 190}] || !seen[[3]uint32{230, 120, 40}] {
		t.Fatal("the chart lacks Weir's or Kafka Streams' bars")
	}
}

func TestCompareTriggersByIDAndField(t *testing.T) {
	at := time.Unix(1000, 0)
	a := map[string]events.Trigger{
		"c:at_risk:2":     {TriggerID: "c:at_risk:2", CustomerID: "c", Type: events.AtRisk, FiredAt: at, Score: 0.5},
		"c:high_intent:5": {TriggerID: "c:high_intent:5", CustomerID: "c", Type: events.HighIntent, FiredAt: at},
	}
	b := map[string]events.Trigger{
		"c:at_risk:2":        {TriggerID: "c:at_risk:2", CustomerID: "c", Type: events.AtRisk, FiredAt: at, Score: 0.25},
		"c:cart_abandoned:7": {TriggerID: "c:cart_abandoned:7", CustomerID: "c", Type: events.CartAbandoned, FiredAt: at},
	}
	var got []string
	for _, m := range CompareTriggers(a, b) {
		got = append(got, m.Customer+"/"+m.Field)
	}
	if want := "c:at_risk:2/score c:cart_abandoned:7/present c:high_intent:5/present"; strings.Join(got, " ") != want {
		t.Fatalf("CompareTriggers = %v, want %s", got, want)
	}
}

// Leaving the busiest customers out of the model changes nothing for the
// others: their events still move stream time (windows, joins, timers).
func TestRunModelSkipsOnlyTheBusiest(t *testing.T) {
	recs := profile.Generate(5, 3000, profile.GenOptions{Customers: 20})
	bad := make([]bool, len(recs))
	for i := range bad {
		bad[i] = recs[i].IsEvent() && i%97 == 0
	}
	all := RunModel(recs, bad, 3, 1e18)
	some := RunModel(recs, bad, 3, 20_000)
	if len(all.Skipped) != 0 || len(some.Skipped) == 0 || len(some.Profiles) == 0 {
		t.Fatalf("skipped %d of all, %d (modelled %d) within the budget", len(all.Skipped), len(some.Skipped), len(some.Profiles))
	}
	if mm := Compare(all.OnlyProfiles(some.Profiles), all.Profiles); len(mm) == 0 {
		t.Fatal("comparing against the full model should report the skipped customers")
	}
	if mm := Compare(some.OnlyProfiles(all.Profiles), some.Profiles); len(mm) != 0 {
		t.Fatalf("%d mismatches, e.g. %v", len(mm), mm[0])
	}
	if mm := CompareTriggers(some.OnlyTriggers(all.Triggers), some.Triggers); len(mm) != 0 {
		t.Fatalf("%d trigger mismatches, e.g. %v", len(mm), mm[0])
	}
	if len(some.Triggers) == 0 {
		t.Fatal("no triggers modelled")
	}
}
