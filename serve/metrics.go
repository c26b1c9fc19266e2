package serve

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirstream/weir/topology"
)

// Metrics is a processor.Metrics that feeds Prometheus.
type Metrics struct {
	in, out, skipped, dead, late *prometheus.CounterVec
	commit                       *prometheus.HistogramVec
	aborted                      prometheus.Counter
	rebalances                   prometheus.Counter
	tasks                        *prometheus.GaugeVec
	restored                     *prometheus.CounterVec
	remaining, lag, groupLag     *prometheus.GaugeVec
	e2e                          prometheus.Histogram
	// Input records not where the configured input partitioner puts
	// their key (processor.MispartitionMetrics).
	mispartitioned *prometheus.CounterVec
	paused         *prometheus.CounterVec
	pausedTasks    prometheus.Gauge

	mu           sync.Mutex
	lastRestored map[[2]string]int64 // topic, partition -> restored count last reported

	// recent holds the last len(recent) end-to-end latencies, a ring
	// written at next; P99 sorts a copy. Exact over a sliding window, and
	// independent of the histogram's bucket bounds.
	latMu  sync.Mutex
	recent []time.Duration
	next   int
	full   bool
}

// latencyWindow is how many recent end-to-end latencies P99 covers.
const latencyWindow = 4096

// NewMetrics registers Weir's metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	task := []string{"subtopology", "partition"}
	tp := []string{"topic", "partition"}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &Metrics{
		lastRestored: map[[2]string]int64{},
		recent:       make([]time.Duration, latencyWindow),
		in:           counter("weir_records_in_total", "Records processed.", task),
		out:          counter("weir_records_out_total", "Records produced to sinks.", task),
		skipped:      counter("weir_records_skipped_total", "Bad records skipped.", task),
		dead:         counter("weir_records_dead_lettered_total", "Bad records sent to the dead-letter topic, by kind: undecodable (key or value did not decode) or failed (a processor rejected it).", append(task, "kind")),
		late:         counter("weir_records_late_total", "Records dropped as later than grace.", task),
		commit:       prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "weir_commit_seconds", Help: "Commit duration, by outcome: committed or aborted.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"outcome"}),
		aborted:      prometheus.NewCounter(prometheus.CounterOpts{Name: "weir_transactions_aborted_total", Help: "Transactions aborted: their outputs were dropped and the tasks rewound to the last commit."}),
		rebalances:   prometheus.NewCounter(prometheus.CounterOpts{Name: "weir_rebalances_total", Help: "Rebalances that changed the tasks or replicas this worker runs."}),
		tasks:        prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "weir_tasks", Help: "Tasks this worker runs, by kind: active or standby (warm-ups included)."}, []string{"kind"}),
		restored:     counter("weir_restored_records_total", "Changelog records restored.", tp),
		remaining:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "weir_restore_remaining_records", Help: "Changelog records left to restore."}, tp),
		lag:          prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "weir_consumer_lag", Help: "Records not yet fetched."}, tp),
		groupLag:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "weir_group_lag", Help: "Records not yet committed: the last stable offset minus the worker's committed position."}, tp),
		paused:       counter("weir_task_paused_seconds_total", "Time tasks spent paused by an unavailable dependency, by reason.", append(task, "reason")),
		pausedTasks:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "weir_tasks_paused", Help: "Tasks paused now by an unavailable dependency."}),
		e2e:          prometheus.NewHistogram(prometheus.HistogramOpts{Name: "weir_end_to_end_seconds", Help: "Commit time minus event time of outputs.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 18)}),
	}
	reg.MustRegister(m.in, m.out, m.skipped, m.dead, m.late, m.commit, m.aborted, m.rebalances, m.tasks,
		m.restored, m.remaining, m.lag, m.groupLag, m.e2e, m.paused, m.pausedTasks)
	m.mispartitioned = counter("weir_records_mispartitioned_total",
		"Input records on another partition than the configured input partitioner gives their key: queries miss those keys.", []string{"topic"})
	reg.MustRegister(m.mispartitioned)
	return m
}

// Processed adds a task's counters (processor.Metrics).
func (m *Metrics) Processed(id topology.TaskID, d topology.TaskStats) {
	l := []string{strconv.Itoa(id.Subtopology), strconv.Itoa(int(id.Partition))}
	m.in.WithLabelValues(l...).Add(float64(d.RecordsIn))
	m.out.WithLabelValues(l...).Add(float64(d.RecordsOut))
	m.skipped.WithLabelValues(l...).Add(float64(d.Skipped))
	m.dead.WithLabelValues(append(l, "undecodable")...).Add(float64(d.DeadLetteredUndecodable))
	m.dead.WithLabelValues(append(l, "failed")...).Add(float64(d.DeadLettered - d.DeadLetteredUndecodable))
	m.late.WithLabelValues(l...).Add(float64(d.Late))
}

// Committed observes one commit's duration under its outcome.
func (m *Metrics) Committed(d time.Duration, committed bool) {
	outcome := "aborted"
	if committed {
		outcome = "committed"
	} else {
		m.aborted.Inc()
	}
	m.commit.WithLabelValues(outcome).Observe(d.Seconds())
}

// Assigned counts a rebalance and sets the worker's tasks
// (processor.AssignmentMetrics).
//
// Lag and restore figures of partitions that moved away would linger
// and add to the fleet's sums: lag starts afresh with the next fetch,
// and every restore of the new assignment is done, so none is left.
func (m *Metrics) Assigned(active, standby int) {
	m.lag.Reset()
	m.groupLag.Reset()
	m.mu.Lock()
	for k := range m.lastRestored {
		m.remaining.WithLabelValues(k[0], k[1]).Set(0)
	}
	m.mu.Unlock()
	m.rebalances.Inc()
	m.tasks.WithLabelValues("active").Set(float64(active))
	m.tasks.WithLabelValues("standby").Set(float64(standby))
}

// Restored gets a cumulative count per replay; the counter adds the
// increase since the previous report (a smaller count is a new replay).
func (m *Metrics) Restored(topic string, p int32, restored, remaining int64) {
	l := []string{topic, strconv.Itoa(int(p))}
	m.remaining.WithLabelValues(l...).Set(float64(remaining))
	key := [2]string{topic, l[1]}
	m.mu.Lock()
	delta := restored - m.lastRestored[key]
	if delta < 0 {
		delta = restored
	}
	m.lastRestored[key] = restored
	m.mu.Unlock()
	m.restored.WithLabelValues(l...).Add(float64(delta))
}

// Mispartitioned counts input records whose key belongs on another
// partition (processor.MispartitionMetrics).
func (m *Metrics) Mispartitioned(topic string, n int64) {
	m.mispartitioned.WithLabelValues(topic).Add(float64(n))
}

// EndToEnd observes one output's latency.
func (m *Metrics) EndToEnd(d time.Duration) {
	m.e2e.Observe(d.Seconds())
	m.latMu.Lock()
	m.recent[m.next] = d
	m.next++
	if m.next == len(m.recent) {
		m.next, m.full = 0, true
	}
	m.latMu.Unlock()
}

// P99 is the 99th percentile (nearest rank) of the last 4096 end-to-end
// latencies; 0 before any.
func (m *Metrics) P99() time.Duration {
	m.latMu.Lock()
	n := m.next
	if m.full {
		n = len(m.recent)
	}
	s := slices.Clone(m.recent[:n])
	m.latMu.Unlock()
	if n == 0 {
		return 0
	}
	slices.Sort(s)
	return s[(n*99+99)/100-1]
}

// Lag sets an input partition's lag.
func (m *Metrics) Lag(topic string, p int32, lag int64) {
	m.lag.WithLabelValues(topic, strconv.Itoa(int(p))).Set(float64(lag))
}

// GroupLag sets an input partition's uncommitted records
// (processor.GroupLagMetrics).
func (m *Metrics) GroupLag(topic string, p int32, lag int64) {
	m.groupLag.WithLabelValues(topic, strconv.Itoa(int(p))).Set(float64(lag))
}

// Paused adds a task's paused time (processor.PauseMetrics).
func (m *Metrics) Paused(id topology.TaskID, reason string, d time.Duration) {
	m.paused.WithLabelValues(strconv.Itoa(id.Subtopology), strconv.Itoa(int(id.Partition)), reason).Add(d.Seconds())
}

// PausedTasks sets how many tasks are paused (processor.PauseMetrics).
func (m *Metrics) PausedTasks(n int) { m.pausedTasks.Set(float64(n)) }
