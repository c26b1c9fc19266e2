package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// progress prints machine-readable lines for scripts that drive weir run
// (the benchmark): "weir: restored N records" while restoring,
// "weir: fetching" when the first input records arrive and "weir: running"
// after the first committed transaction, as the Kafka Streams peer does.
// Keep those lines as they are: bench/ parses them. For people it reports
// restores with rate and ETA (restore_progress.go).
type progress struct {
	out     io.Writer
	restore restoreReporter // nil: lines only
	now     func() time.Time

	mu        sync.Mutex
	restored  map[string]int64 // changelog partition -> records restored
	remaining map[string]int64 // changelog partition -> records left
	total     int64
	printed   int64
	lastPrint time.Time
	running   bool
	fetching  bool
	lastOK    bool // the last commit committed (false: aborted, or none yet)
}

var _ processor.Metrics = (*progress)(nil)

func newProgress(out io.Writer, restore restoreReporter) *progress {
	return &progress{out: out, restore: restore, now: time.Now,
		restored: map[string]int64{}, remaining: map[string]int64{}}
}

func (p *progress) Restored(topic string, partition int32, restored, remaining int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := fmt.Sprintf("%s/%d", topic, partition)
	d := restored - p.restored[k]
	if d < 0 {
		d = restored // a new replay of the partition counts from 0
	}
	p.total += d
	p.restored[k] = restored
	p.remaining[k] = max(remaining, 0)
	if p.restore != nil {
		var left int64
		for _, n := range p.remaining {
			left += n
		}
		p.restore.update(p.now(), p.total, left)
	}
	if time.Since(p.lastPrint) >= 500*time.Millisecond {
		p.printRestoredLocked()
	}
}

func (p *progress) printRestoredLocked() {
	if p.total == p.printed {
		return
	}
	p.printed, p.lastPrint = p.total, time.Now()
	fmt.Fprintf(p.out, "weir: restored %d records\n", p.total)
}

func (p *progress) Committed(_ time.Duration, committed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastOK = committed
	if !committed || p.running {
		return
	}
	p.running = true
	p.printRestoredLocked()
	fmt.Fprintln(p.out, "weir: running")
}

// final prints the restored total if a throttled line left it unsaid,
// and reports whether the last commit committed.
func (p *progress) final() (lastCommitted bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.printRestoredLocked()
	return p.lastOK
}

func (*progress) Processed(topology.TaskID, topology.TaskStats) {}
func (*progress) EndToEnd(time.Duration)                        {}
func (p *progress) Lag(string, int32, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.fetching {
		p.fetching = true
		fmt.Fprintln(p.out, "weir: fetching")
	}
}
