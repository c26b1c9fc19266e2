package processor

import (
	"maps"
	"strconv"
	"strings"
	"sync"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/topology"
)

// positions is how far this worker's local state of each task has read
// its changelogs (the sum of the checkpoint's offsets), for every task
// with state here: active, standby, or kept after moving away. The
// worker reports it when it joins the group, so that the leader can
// place tasks where they restore least. Safe for concurrent use: the
// group's goroutine reads it.
type positions struct {
	mu sync.Mutex
	m  map[topology.TaskID]int64
}

func newPositions() *positions { return &positions{m: map[topology.TaskID]int64{}} }

// set records a task's position as written: its checkpoint's.
func (p *positions) set(id topology.TaskID, cp state.Checkpoint) {
	var sum int64
	for _, off := range cp.Offsets {
		sum += off
	}
	p.setRead(id, sum)
}

// setRead records a replica's position as read, before it is written:
// the leader plans with the freshest figure (a hint, not a promise).
func (p *positions) setRead(id topology.TaskID, sum int64) {
	p.mu.Lock()
	p.m[id] = sum
	p.mu.Unlock()
}

func (p *positions) drop(name string) {
	id, ok := parseTaskName(name)
	if !ok {
		return
	}
	p.mu.Lock()
	delete(p.m, id)
	p.mu.Unlock()
}

func (p *positions) snapshot() map[topology.TaskID]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.m)
}

// parseTaskName reads a task's local state name (TaskID.String).
func parseTaskName(name string) (topology.TaskID, bool) {
	sub, part, ok := strings.Cut(name, "_")
	if !ok {
		return topology.TaskID{}, false
	}
	s, err1 := strconv.Atoi(sub)
	p, err2 := strconv.ParseInt(part, 10, 32)
	if err1 != nil || err2 != nil {
		return topology.TaskID{}, false
	}
	return topology.TaskID{Subtopology: s, Partition: int32(p)}, true
}
