package profiledemo

import (
	"slices"
	"sync"
	"time"

	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// latency keeps the end-to-end latencies the workers report (commit time
// minus event time) in a bounded ring, for the p99 the status line shows.
// It is a processor.Metrics that ignores the other hooks.
type latency struct {
	mu   sync.Mutex
	ring []time.Duration
	next int
	full bool
}

const ringSize = 1 << 14

func newLatency() *latency { return &latency{ring: make([]time.Duration, ringSize)} }

func (l *latency) EndToEnd(d time.Duration) {
	l.mu.Lock()
	l.ring[l.next] = d
	l.next = (l.next + 1) % ringSize
	l.full = l.full || l.next == 0
	l.mu.Unlock()
}

// p99 of the latest ringSize reports.
func (l *latency) p99() time.Duration {
	l.mu.Lock()
	n := l.next
	if l.full {
		n = ringSize
	}
	s := slices.Clone(l.ring[:n])
	l.mu.Unlock()
	if len(s) == 0 {
		return 0
	}
	slices.Sort(s)
	return s[(len(s)*99)/100]
}

func (l *latency) Processed(topology.TaskID, topology.TaskStats) {}
func (l *latency) Committed(time.Duration, bool)                 {}
func (l *latency) Restored(string, int32, int64, int64)          {}
func (l *latency) Lag(string, int32, int64)                      {}

// Fanout sends every hook to each of its metrics.
type Fanout []processor.Metrics

func (f Fanout) Processed(id topology.TaskID, d topology.TaskStats) {
	for _, m := range f {
		m.Processed(id, d)
	}
}

func (f Fanout) Committed(d time.Duration, ok bool) {
	for _, m := range f {
		m.Committed(d, ok)
	}
}

func (f Fanout) Restored(t string, p int32, r, rem int64) {
	for _, m := range f {
		m.Restored(t, p, r, rem)
	}
}

func (f Fanout) EndToEnd(d time.Duration) {
	for _, m := range f {
		m.EndToEnd(d)
	}
}

func (f Fanout) Lag(t string, p int32, l int64) {
	for _, m := range f {
		m.Lag(t, p, l)
	}
}

// Paused forwards to the sinks that count paused tasks
// (processor.PauseMetrics), so /metrics shows them.
func (f Fanout) Paused(id topology.TaskID, reason string, d time.Duration) {
	for _, m := range f {
		if pm, ok := m.(processor.PauseMetrics); ok {
			pm.Paused(id, reason, d)
		}
	}
}

func (f Fanout) PausedTasks(n int) {
	for _, m := range f {
		if pm, ok := m.(processor.PauseMetrics); ok {
			pm.PausedTasks(n)
		}
	}
}

// Mispartitioned forwards to the sinks that count mispartitioned input
// (processor.MispartitionMetrics).
func (f Fanout) Mispartitioned(topic string, n int64) {
	for _, m := range f {
		if mm, ok := m.(processor.MispartitionMetrics); ok {
			mm.Mispartitioned(topic, n)
		}
	}
}

// GroupLag forwards to the sinks that hear the group's lag
// (processor.GroupLagMetrics).
func (f Fanout) GroupLag(t string, p int32, l int64) {
	for _, m := range f {
		if gm, ok := m.(processor.GroupLagMetrics); ok {
			gm.GroupLag(t, p, l)
		}
	}
}

// Assigned forwards to the sinks that hear assignments
// (processor.AssignmentMetrics).
func (f Fanout) Assigned(active, standby int) {
	for _, m := range f {
		if am, ok := m.(processor.AssignmentMetrics); ok {
			am.Assigned(active, standby)
		}
	}
}
