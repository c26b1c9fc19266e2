package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// SystemResult is every figure measured for one system. Zero means not
// measured.
type SystemResult struct {
	Name      string `json:"name"`
	Available bool   `json:"available"`
	Note      string `json:"note,omitempty"`

	// Throughput run: drain the preloaded input from the earliest offset.
	Events                 int        `json:"events"`
	StartToFirstCommitSecs float64    `json:"start_to_first_record_seconds"` // process start -> "fetching"/"running" line or first commit seen
	DrainSeconds           float64    `json:"drain_seconds"`                 // first record -> zero lag seen
	Throughput             float64    `json:"throughput_events_per_sec"`
	ThroughputWithStartup  float64    `json:"throughput_with_startup_events_per_sec"` // process start -> zero lag
	CPUSeconds             float64    `json:"cpu_seconds"`
	CPUPer1000Events       float64    `json:"cpu_seconds_per_1000_events"`
	PeakRSSBytes           int64      `json:"peak_rss_bytes"`
	CPUProfile             string     `json:"cpu_profile,omitempty"`   // of the drain, not in git (pprof format)
	CPUBreakdown           *Breakdown `json:"cpu_breakdown,omitempty"` // where the drain's CPU went`
	OutputRecords          int        `json:"output_records"`
	Customers              int        `json:"customers"`

	// Paced run.
	PacedRate       float64 `json:"paced_rate_events_per_sec,omitempty"`
	PacedEvents     int     `json:"paced_events,omitempty"`
	PacedUpdates    int     `json:"paced_updates,omitempty"`
	LatencyP50Ms    float64 `json:"latency_p50_ms,omitempty"`
	LatencyP99Ms    float64 `json:"latency_p99_ms,omitempty"`
	LatencyP999Ms   float64 `json:"latency_p999_ms,omitempty"`
	LatencyMaxMs    float64 `json:"latency_max_ms,omitempty"`
	PacedPeakRSS    int64   `json:"paced_peak_rss_bytes,omitempty"`
	PacedCPUSeconds float64 `json:"paced_cpu_seconds,omitempty"`

	// Restore: state directory deleted, process started, probe events.
	RestoredRecords   int64   `json:"restored_records,omitempty"`
	RestoreSeconds    float64 `json:"restore_seconds,omitempty"` // process start -> running
	RestoreRate       float64 `json:"restore_records_per_sec,omitempty"`
	RestoreToOutputSe float64 `json:"restore_to_output_seconds,omitempty"` // process start -> probe outputs visible

	// Recovery: kill -9, start again on the same state directory, probes.
	KillRestoredRecords int64   `json:"kill9_restored_records,omitempty"`
	KillToOutputSecs    float64 `json:"kill9_to_output_seconds,omitempty"` // restart -> probe outputs visible

	Errors []string `json:"errors,omitempty"`
}

// Results is a benchmark run's file.
type Results struct {
	Date     string            `json:"date"`
	GitSHA   string            `json:"git_sha"`
	Machine  Machine           `json:"machine"`
	Versions map[string]string `json:"versions"`
	Settings map[string]string `json:"settings"`
	Workload struct {
		Seed           uint64  `json:"seed"`
		Events         int     `json:"events"`
		Malformed      int     `json:"malformed"`
		Customers      int     `json:"customers"`
		ValueBytes     int64   `json:"value_bytes"`
		Partitions     int32   `json:"partitions"`
		PreloadSeconds float64 `json:"preload_seconds"`
	} `json:"workload"`
	Systems     []*SystemResult `json:"systems"`
	Correctness struct {
		Compared        bool     `json:"compared"`
		Customers       int      `json:"customers"`
		Mismatches      int      `json:"mismatches"`
		Examples        []string `json:"examples,omitempty"`
		ModelMismatches []int    `json:"model_mismatches"` // per system, against what the input alone determines
		ModelExamples   []string `json:"model_examples,omitempty"`
		FinalMismatches int      `json:"final_mismatches"` // after the recovery phases' probes
		FinalCompared   bool     `json:"final_compared"`
		FinalExamples   []string `json:"final_examples,omitempty"`
		// Triggers: the full sets by id (and every field), between the
		// systems and each against profilemodel; profiles (every field)
		// against profilemodel.
		TriggerMismatches      int      `json:"trigger_mismatches"`
		TriggerExamples        []string `json:"trigger_examples,omitempty"`
		Triggers               []int    `json:"triggers"` // per system
		ModelProfileMismatches []int    `json:"model_profile_mismatches"`
		ModelTriggerMismatches []int    `json:"model_trigger_mismatches"`
		ModelSkipped           int      `json:"model_skipped_customers"` // the busiest, left out of the model (bench.ModelBudget)
	} `json:"correctness"`
	Scaling []*ScaleRun `json:"scaling,omitempty"`
	Notes   []string    `json:"notes,omitempty"`
	Took    string      `json:"took"`
}

// ScaleRun is one row of the scaling table: Weir workers draining the
// preloaded input from the earliest offset with a fresh application id
// and fresh state directories.
type ScaleRun struct {
	Name             string     `json:"name"`
	Workers          int        `json:"workers"`
	Partitions       int32      `json:"partitions"` // of each event topic
	Events           int64      `json:"events"`
	DrainSeconds     float64    `json:"drain_seconds"` // first record -> zero lag
	Throughput       float64    `json:"throughput_events_per_sec"`
	CPUSeconds       float64    `json:"cpu_seconds"` // all workers
	CPUPer1000Events float64    `json:"cpu_seconds_per_1000_events"`
	PeakRSSBytes     int64      `json:"peak_rss_bytes"` // summed over the workers
	CPUProfile       string     `json:"cpu_profile,omitempty"`
	CPUBreakdown     *Breakdown `json:"cpu_breakdown,omitempty"`
	Error            string     `json:"error,omitempty"`
}

// Percentile returns the q-quantile (0..1) of sorted durations in ms.
func Percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i].Microseconds()) / 1000
}

// Latencies turns updates into end-to-end latencies: append time minus
// the event time of the event that made the version.
func Latencies(updates []Update, eventTimes map[string][]time.Time) []time.Duration {
	var out []time.Duration
	for _, u := range updates {
		ts := eventTimes[u.Customer]
		if u.Version < 1 || int(u.Version) > len(ts) {
			continue
		}
		out = append(out, u.Appended.Sub(ts[u.Version-1]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Write writes dir/<date>-<sha>.json, dir/latest.md and dir/latest.png.
func (r *Results) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	name := filepath.Join(dir, fmt.Sprintf("%s-%s.json", r.Date, r.GitSHA))
	if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(r.Markdown(filepath.Base(name))), 0o644); err != nil {
		return "", err
	}
	f, err := os.Create(filepath.Join(dir, "latest.png"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	return name, r.Chart(f)
}

// metric is one row of the table and one group of the chart.
type metric struct {
	name   string
	unit   string
	better string // "higher" or "lower"
	get    func(*SystemResult) float64
	// count metrics are measured (and may be 0) when their phase ran.
	ran func(*SystemResult) bool
}

// value is m of s as a table cell.
func (m metric) value(s *SystemResult) string {
	v := m.get(s)
	if v == 0 && m.ran != nil && m.ran(s) {
		return "0"
	}
	return num(v)
}

func (m metric) label() string {
	if m.better == "" {
		return m.name + " (" + m.unit + ")"
	}
	return m.name + " (" + m.unit + ", " + m.better + " is better)"
}

func metrics() []metric {
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	return []metric{
		{"Throughput", "events/s", "higher", func(s *SystemResult) float64 { return s.Throughput }, nil},
		{"Throughput incl. start-up", "events/s", "higher", func(s *SystemResult) float64 { return s.ThroughputWithStartup }, nil},
		{"CPU per 1000 events", "CPU s", "lower", func(s *SystemResult) float64 { return s.CPUPer1000Events }, nil},
		{"Peak RSS", "MiB", "lower", func(s *SystemResult) float64 { return mib(s.PeakRSSBytes) }, nil},
		{"Latency p50 (paced)", "ms", "lower", func(s *SystemResult) float64 { return s.LatencyP50Ms }, nil},
		{"Latency p99 (paced)", "ms", "lower", func(s *SystemResult) float64 { return s.LatencyP99Ms }, nil},
		{"Latency p99.9 (paced)", "ms", "lower", func(s *SystemResult) float64 { return s.LatencyP999Ms }, nil},
		{"Records restored, state deleted", "records", "", func(s *SystemResult) float64 { return float64(s.RestoredRecords) }, nil},
		{"Restore rate", "records/s", "higher", func(s *SystemResult) float64 { return s.RestoreRate }, nil},
		{"Restart to output, state deleted", "s", "lower", func(s *SystemResult) float64 { return s.RestoreToOutputSe }, nil},
		{"Restart to output after kill -9", "s", "lower", func(s *SystemResult) float64 { return s.KillToOutputSecs }, nil},
		{"Records restored after kill -9", "records", "lower", func(s *SystemResult) float64 { return float64(s.KillRestoredRecords) },
			func(s *SystemResult) bool { return s.KillToOutputSecs != 0 }},
	}
}

func num(v float64) string {
	switch {
	case v == 0:
		return "—"
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// Markdown is the latest.md table: metric | Weir | Kafka Streams | ratio.
func (r *Results) Markdown(jsonName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmark: Weir vs Kafka Streams (%s, %s)\n\n", r.Date, r.GitSHA)
	fmt.Fprintf(&b, "%d events (%d malformed), %d customers, %d partitions, seed %d; %s, %d cores, %.0f GiB. Full figures: `%s`.\n\n",
		r.Workload.Events, r.Workload.Malformed, r.Workload.Customers, r.Workload.Partitions, r.Workload.Seed,
		r.Machine.CPUModel, r.Machine.Cores, float64(r.Machine.MemBytes)/(1<<30), jsonName)
	var weir, ks *SystemResult
	var extra []*SystemResult
	for _, s := range r.Systems {
		switch {
		case s.Name == "weir":
			weir = s
		case s.Name == "kstreams":
			ks = s
		default:
			extra = append(extra, s)
		}
	}
	if weir == nil {
		weir = &SystemResult{}
	}
	if ks == nil {
		ks = &SystemResult{}
	}
	b.WriteString("| metric | Weir | Kafka Streams | ratio Weir/KS |\n|---|---:|---:|---:|\n")
	for _, m := range metrics() {
		w, k := m.get(weir), m.get(ks)
		// (m.value prints the cells; the ratio needs both non-zero.)
		ratio := "—"
		if w != 0 && k != 0 {
			ratio = fmt.Sprintf("%.2f", w/k)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", m.label(), m.value(weir), m.value(ks), ratio)
	}
	for _, s := range extra {
		if s.KillToOutputSecs != 0 {
			ratio := "—"
			if weir.KillToOutputSecs != 0 {
				ratio = fmt.Sprintf("%.2f", weir.KillToOutputSecs/s.KillToOutputSecs)
			}
			fmt.Fprintf(&b, "| Restart to output after kill -9 (s), KS %s | %s | %s | %s |\n", s.Note, num(weir.KillToOutputSecs), num(s.KillToOutputSecs), ratio)
			restored := metrics()[len(metrics())-1]
			fmt.Fprintf(&b, "| Records restored after kill -9, KS %s | %s | %s | — |\n", s.Note, restored.value(weir), restored.value(s))
		}
	}
	b.WriteString("\n")
	c := r.Correctness
	switch {
	case c.Compared && c.Mismatches == 0:
		fmt.Fprintf(&b, "Correctness: final profiles of %d customers identical in both systems", c.Customers)
	case c.Compared:
		fmt.Fprintf(&b, "Correctness: **%d mismatches** over %d customers (e.g. %s)", c.Mismatches, c.Customers, strings.Join(c.Examples, "; "))
	default:
		b.WriteString("Correctness: **not compared** (Kafka Streams did not run)")
	}
	fmt.Fprintf(&b, "; against the input model (version, views, purchases, lifetime value, top categories): %v mismatches per system.\n\n", c.ModelMismatches)
	fmt.Fprintf(&b, "Every profile field and trigger: triggers %v per system, %d trigger mismatches between the systems; against profilemodel (all but the %d busiest customers): profiles %v, triggers %v mismatches per system.\n\n",
		c.Triggers, c.TriggerMismatches, c.ModelSkipped, c.ModelProfileMismatches, c.ModelTriggerMismatches)
	for _, s := range r.Systems {
		if !s.Available || len(s.Errors) > 0 {
			fmt.Fprintf(&b, "- %s: available=%v %s %s\n", s.Name, s.Available, s.Note, strings.Join(s.Errors, "; "))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if len(r.Scaling) > 0 {
		b.WriteString("\n## Scaling: Weir workers on the same broker and input\n\n")
		b.WriteString("Each run drains the preloaded input from the earliest offset with a fresh application id and fresh state directories, one process per worker, exactly-once, 100 ms commits. " +
			"CPU and peak RSS are summed over the workers.\n\n")
		b.WriteString("| run | workers | partitions | events | throughput (events/s) | CPU s per 1000 events | peak RSS (MiB) |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, sr := range r.Scaling {
			if sr.Error != "" {
				fmt.Fprintf(&b, "| %s | %d | %d | | failed: %s | | |\n", sr.Name, sr.Workers, sr.Partitions, sr.Error)
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s | %s |\n", sr.Name, sr.Workers, sr.Partitions, sr.Events,
				num(sr.Throughput), num(sr.CPUPer1000Events), num(float64(sr.PeakRSSBytes)/(1<<20)))
		}
	}
	for _, s := range r.Systems {
		if s.CPUBreakdown != nil {
			s.CPUBreakdown.markdown(&b, s.Name+"'s drain", s.CPUProfile)
		}
	}
	for _, sr := range r.Scaling {
		if sr.CPUBreakdown != nil {
			sr.CPUBreakdown.markdown(&b, "the drain of "+sr.Name, sr.CPUProfile)
		}
	}
	b.WriteString("\nReproduce: `make bench` (env: BENCH_EVENTS, KAFKA_BROKERS; see bench/README.md).\n")
	return b.String()
}

// markdown writes the breakdown as a section of latest.md.
func (bd *Breakdown) markdown(b *strings.Builder, what, path string) {
	fmt.Fprintf(b, "\n## Where the time of %s goes\n\n", what)
	fmt.Fprintf(b, "CPU profile from first record to zero lag: %.1f CPU s in %.1f s of profile, %.0f%% of one core (`go tool pprof -top %s`). "+
		"Each sample counts for the innermost function on its stack that belongs to a part: decode/encode = codec, Avro, encoding/json "+
		"(input records and stored state); task core = topology, profile; state = state, Pebble; Kafka client = franz-go; "+
		"Weir runtime loop = processor; GC = collector work anywhere on the stack; other = the rest (scheduler, syscalls outside those).\n\n",
		bd.Seconds, bd.Wall, bd.Busy(), path)
	b.WriteString("| part | share of CPU | CPU s | heaviest functions (share of CPU) | called from (another part) |\n|---|---:|---:|---|---|\n")
	for _, s := range bd.Shares {
		fmt.Fprintf(b, "| %s | %.1f%% | %.2f | %s | %s |\n", s.Category, s.Percent, s.Seconds, funcList(s.Top, "`%s` %.1f%%"), funcList(s.Callers, "`%s` %.1f%%"))
	}
}
