package journey

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/weirstream/weir/topology"
)

// Operator keeps the last minutes of what the workers reported, a
// sample a second, for the operator view. Each worker reports through
// its own Recorder (a processor.Metrics).
type Operator struct {
	every time.Duration
	keep  int
	// totals reads counts kept elsewhere: profiles and triggers seen on
	// the output topics, webhooks acted on.
	totals func() Totals

	mu        sync.Mutex
	recorders []*Recorder
	samples   []sample // oldest first, at most keep
	sum       Totals
}

// Totals are counts since the demo started.
type Totals struct {
	Events      int64 `json:"events"`
	Commits     int64 `json:"commits"`
	Aborts      int64 `json:"aborts"`
	DeadLetters int64 `json:"dead_letters"`
	Profiles    int   `json:"profiles"`
	Triggers    int   `json:"triggers"`
	Webhooks    int   `json:"webhooks"`
}

type sample struct {
	at                     time.Time
	events, commits, abort int64
	deadTotal              int64
	lag                    int64
	p50, p99               *float64 // ms; nil: no output in the second
	perWorker              []workerSample
}

type workerSample struct{ events, lag int64 }

// NewOperator keeps keep samples taken every interval; totals (optional)
// adds the counts the workers do not report.
func NewOperator(interval time.Duration, keep int, totals func() Totals) *Operator {
	if totals == nil {
		totals = func() Totals { return Totals{} }
	}
	return &Operator{every: interval, keep: keep, totals: totals}
}

// Recorder returns the processor.Metrics of one more worker.
func (o *Operator) Recorder() *Recorder {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := &Recorder{lag: map[topology.TopicPartition]int64{}, tasks: map[topology.TaskID]bool{}}
	o.recorders = append(o.recorders, r)
	return r
}

// Run samples until ctx ends.
func (o *Operator) Run(ctx context.Context) {
	t := time.NewTicker(o.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			o.take(now)
		}
	}
}

func (o *Operator) take(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := sample{at: now}
	var lat []time.Duration
	for _, r := range o.recorders {
		d := r.drain()
		s.events += d.events
		s.commits += d.commits
		s.abort += d.aborts
		s.lag += d.lag
		lat = append(lat, d.latencies...)
		o.sum.DeadLetters += d.dead
		s.perWorker = append(s.perWorker, workerSample{events: d.events, lag: d.lag})
	}
	o.sum.Events += s.events
	o.sum.Commits += s.commits
	o.sum.Aborts += s.abort
	s.deadTotal = o.sum.DeadLetters
	if len(lat) > 0 {
		slices.Sort(lat)
		p50, p99 := ms(lat[len(lat)*50/100]), ms(lat[min(len(lat)-1, len(lat)*99/100)])
		s.p50, s.p99 = &p50, &p99
	}
	o.samples = append(o.samples, s)
	if len(o.samples) > o.keep {
		o.samples = o.samples[len(o.samples)-o.keep:]
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Snapshot is the operator view's data: see web-spec in the package's
// pages (GET /api/operator).
type Snapshot struct {
	IntervalMs   int64            `json:"interval_ms"`
	Times        []int64          `json:"times"`
	EventsPerSec []float64        `json:"events_per_sec"`
	Lag          []int64          `json:"lag"`
	P50          []*float64       `json:"p50_ms"`
	P99          []*float64       `json:"p99_ms"`
	Commits      []float64        `json:"commits"`
	Aborts       []float64        `json:"aborts"`
	DeadLetters  []int64          `json:"dead_letters"`
	Workers      []WorkerSnapshot `json:"workers"`
	Totals       Totals           `json:"totals"`
}

// WorkerSnapshot is one worker in the operator view.
type WorkerSnapshot struct {
	Worker
	Active       int       `json:"active_tasks"`
	Standby      int       `json:"standby_tasks"`
	Tasks        []string  `json:"tasks"`
	EventsPerSec []float64 `json:"events_per_sec"`
	Lag          []int64   `json:"lag"`
}

// Snapshot returns the samples kept, for workers (listed in the order
// their Recorders were made).
func (o *Operator) Snapshot(workers []Worker) Snapshot {
	t := o.totals() // before locking: it takes the watcher's and engine's locks
	o.mu.Lock()
	defer o.mu.Unlock()
	per := o.every.Seconds()
	s := Snapshot{IntervalMs: o.every.Milliseconds(), Totals: o.sum,
		Times: []int64{}, EventsPerSec: []float64{}, Lag: []int64{}, P50: []*float64{}, P99: []*float64{},
		Commits: []float64{}, Aborts: []float64{}, DeadLetters: []int64{}}
	ws := make([]WorkerSnapshot, len(workers))
	for i, w := range workers {
		ws[i].Worker = w
		ws[i].Tasks, ws[i].EventsPerSec, ws[i].Lag = []string{}, []float64{}, []int64{}
		if i < len(o.recorders) {
			ws[i].Active, ws[i].Standby, ws[i].Tasks = o.recorders[i].assignment()
		}
	}
	for _, x := range o.samples {
		s.Times = append(s.Times, x.at.UnixMilli())
		s.EventsPerSec = append(s.EventsPerSec, float64(x.events)/per)
		s.Lag = append(s.Lag, x.lag)
		s.P50, s.P99 = append(s.P50, x.p50), append(s.P99, x.p99)
		s.Commits = append(s.Commits, float64(x.commits)/per)
		s.Aborts = append(s.Aborts, float64(x.abort)/per)
		s.DeadLetters = append(s.DeadLetters, x.deadTotal)
		for i := range ws {
			var v workerSample
			if i < len(x.perWorker) {
				v = x.perWorker[i]
			}
			ws[i].EventsPerSec = append(ws[i].EventsPerSec, float64(v.events)/per)
			ws[i].Lag = append(ws[i].Lag, v.lag)
		}
	}
	s.Totals.Profiles, s.Totals.Triggers, s.Totals.Webhooks = t.Profiles, t.Triggers, t.Webhooks
	s.Workers = ws
	return s
}

// Recorder is one worker's processor.Metrics for the operator view.
type Recorder struct {
	mu              sync.Mutex
	events, dead    int64
	commits, aborts int64
	latencies       []time.Duration
	lag             map[topology.TopicPartition]int64
	tasks           map[topology.TaskID]bool // active tasks that processed since the last assignment
	active, standby int
}

// maxLatencies bounds the end-to-end samples kept per second.
const maxLatencies = 20000

// Processed implements processor.Metrics.
func (r *Recorder) Processed(id topology.TaskID, d topology.TaskStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events += d.RecordsIn
	r.dead += d.DeadLettered
	r.tasks[id] = true
}

// Committed implements processor.Metrics.
func (r *Recorder) Committed(_ time.Duration, committed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if committed {
		r.commits++
	} else {
		r.aborts++
	}
}

// Restored implements processor.Metrics.
func (r *Recorder) Restored(string, int32, int64, int64) {}

// EndToEnd implements processor.Metrics.
func (r *Recorder) EndToEnd(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.latencies) < maxLatencies {
		r.latencies = append(r.latencies, d)
	}
}

// Lag implements processor.Metrics.
func (r *Recorder) Lag(topic string, p int32, lag int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lag[topology.TopicPartition{Topic: topic, Partition: p}] = lag
}

// Assigned implements processor.AssignmentMetrics: the tasks and lags
// reported so far belong to the previous assignment.
func (r *Recorder) Assigned(active, standby int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active, r.standby = active, standby
	clear(r.tasks)
	clear(r.lag)
}

// Stopped says the worker stopped: it runs nothing and lags nothing.
func (r *Recorder) Stopped() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active, r.standby = 0, 0
	clear(r.tasks)
	clear(r.lag)
}

type drained struct {
	events, dead, commits, aborts, lag int64
	latencies                          []time.Duration
}

func (r *Recorder) drain() drained {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := drained{events: r.events, dead: r.dead, commits: r.commits, aborts: r.aborts, latencies: r.latencies}
	for _, l := range r.lag {
		d.lag += l
	}
	r.events, r.dead, r.commits, r.aborts, r.latencies = 0, 0, 0, 0, nil
	return d
}

func (r *Recorder) assignment() (active, standby int, tasks []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tasks = []string{}
	for id := range r.tasks {
		tasks = append(tasks, id.String())
	}
	slices.Sort(tasks)
	return r.active, r.standby, tasks
}
