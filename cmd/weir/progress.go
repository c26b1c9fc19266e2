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
type progress struct {
	out io.Writer

	mu        sync.Mutex
	restored  map[string]int64 // changelog partition -> records restored
	total     int64
	printed   int64
	lastPrint time.Time
	running   bool
	fetching  bool
}

var _ processor.Metrics = (*progress)(nil)

func newProgress(out io.Writer) *progress {
	return &progress{out: out, restored: map[string]int64{}}
}

func (p *progress) Restored(topic string, partition int32, restored, _ int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := fmt.Sprintf("%s/%d", topic, partition)
	p.total += restored - p.restored[k]
	p.restored[k] = restored
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
	if !committed || p.running {
		return
	}
	p.running = true
	p.printRestoredLocked()
	fmt.Fprintln(p.out, "weir: running")
}

// final prints the restored total if a throttled line left it unsaid.
func (p *progress) final() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.printRestoredLocked()
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
