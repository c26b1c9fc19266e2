package processor

import (
	"errors"
	"fmt"

	"github.com/weirstream/weir/topology"
)

// Interactive queries: read a store's committed state by key from any
// worker. The worker that owns the key's task answers from its local
// state; the others say who owns it, so an HTTP layer can forward.

var (
	// ErrNotOwner means another worker owns the key's task; errors.As a
	// *NotOwnerError for its address.
	ErrNotOwner = errors.New("processor: key owned by another worker")
	// ErrNotReady means the worker is not running, or the key's task is
	// still restoring here.
	ErrNotReady = errors.New("processor: not ready to serve")
	// ErrUnknownStore means the topology has no such store (or it is a
	// global table, which every worker can read with GetGlobal).
	ErrUnknownStore = errors.New("processor: unknown store")
)

// NotOwnerError names the worker that owns a key.
type NotOwnerError struct {
	Task  topology.TaskID
	Owner string // its AdvertisedAddress; empty when not known
}

func (e *NotOwnerError) Error() string {
	if e.Owner == "" {
		return fmt.Sprintf("processor: task %s is owned by another worker whose address is unknown", e.Task)
	}
	return fmt.Sprintf("processor: task %s is owned by %s", e.Task, e.Owner)
}

func (e *NotOwnerError) Unwrap() error { return ErrNotOwner }

// serving is what queries need from the running worker, published by its
// loop after every assignment change.
type serving struct {
	w     *worker
	ready map[topology.TaskID]bool // open and restored here
	// pending counts tasks the group gave this worker that are not open
	// yet (restoring).
	pending int
}

// Get returns the committed value of key in store (key as the store's
// key serde encodes it). Uncommitted writes are never visible: what a
// query returns has been published exactly once. Safe for concurrent use.
func (a *App) Get(store string, key []byte) ([]byte, bool, error) {
	s := a.serving.Load()
	if s == nil {
		return nil, false, ErrNotReady
	}
	id, err := a.taskOf(s.w, store, key)
	if err != nil {
		return nil, false, err
	}
	if !s.ready[id] {
		owner, known := s.w.bal.Owner(id)
		if known && owner == a.cfg.advertise && owner != "" {
			return nil, false, ErrNotReady // ours, still restoring
		}
		return nil, false, &NotOwnerError{Task: id, Owner: owner}
	}
	v, ok, err := s.w.db.Store(id.String(), store).Get(key)
	if err != nil || !ok {
		return nil, false, err
	}
	return append([]byte(nil), v...), true, nil
}

// Ready reports whether the worker is in the group and every task it owns
// is restored. A worker the group gave no task (more workers than
// partitions, or standbys only) is ready: it forwards queries.
func (a *App) Ready() bool {
	s := a.serving.Load()
	return s != nil && s.pending == 0
}

// taskOf finds the task that holds key in store: the store's
// sub-topology, and the partition its input's partitioner gives key
// (InputPartitioner).
func (a *App) taskOf(w *worker, store string, key []byte) (topology.TaskID, error) {
	for _, sub := range w.p.subs {
		for _, st := range sub.Stores {
			if st.Name != store {
				continue
			}
			n := int(w.p.partitions[sub.ID])
			p := newPartitions().of(a.partitionerOf(sub), key, n)
			return topology.TaskID{Subtopology: sub.ID, Partition: int32(p)}, nil
		}
	}
	return topology.TaskID{}, fmt.Errorf("%w: %q", ErrUnknownStore, store)
}
