// Package pebble keeps the state of a worker's tasks in one Pebble
// database, the only package of Weir that imports Pebble.
//
// Every task's stores live under a per-task key prefix, so a task that
// moves to another worker is dropped with one range delete. A task's
// committed writes and its checkpoint (the changelog offsets they
// correspond to) are written in one atomic Pebble batch, so local state
// never runs ahead of, or lags behind, what its checkpoint says.
//
// Key layout:
//
//	'd' | uvarint len | task | uvarint len | store | user key   -> value
//	'c' | uvarint len | task                                    -> checkpoint
//
// The length prefixes make each task's and each store's prefix disjoint
// from every other one, whatever the names.
package pebble

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"

	pb "github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/weirstream/weir/state"
)

// Options configures Open. The zero value is usable.
type Options struct {
	// Logger receives Pebble's own log lines (so Pebble never writes to
	// stderr) and this package's. Default: zap.NewNop().
	Logger *zap.Logger
	// CacheSize is the block cache size in bytes. Default: 64 MiB.
	CacheSize int64
	// MemTableSize is the size of one memtable in bytes. Default: 32 MiB.
	MemTableSize uint64
	// Sync makes every write wait for the write-ahead log to reach disk.
	// Default false: Kafka, not the local disk, is the source of truth. A
	// machine crash loses only a suffix of recent batches, and since each
	// commit's writes and checkpoint are one batch, what survives is an
	// older but consistent state whose checkpoint tells restore where to
	// resume in the changelog. Syncing would add a disk flush to every
	// commit for nothing.
	Sync bool
}

// DB is one Pebble database holding the state of all of a worker's tasks.
// It is safe for concurrent use; the views Store returns are not.
type DB struct {
	db     *pb.DB
	log    *zap.Logger
	wo     *pb.WriteOptions
	closed atomic.Bool
	// writes counts writes, so open iterators know to refresh their view.
	writes atomic.Uint64
	// gens counts writes per task, for cached views (CachedStore).
	gens generations
}

// Open opens or creates the database in dir.
func Open(dir string, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 64 << 20
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = 32 << 20
	}
	log := opts.Logger.Named("pebble")
	cache := pb.NewCache(opts.CacheSize)
	defer cache.Unref() // Pebble holds its own reference while open
	po := &pb.Options{
		Cache:        cache,
		MemTableSize: opts.MemTableSize,
		Logger:       zapLogger{log.WithOptions(zap.AddCallerSkip(1)).Sugar()},
	}
	db, err := pb.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("state/pebble: open %s: %w", dir, err)
	}
	d := &DB{db: db, log: log, wo: pb.NoSync}
	if opts.Sync {
		d.wo = pb.Sync
	}
	return d, nil
}

// Close closes the database. Using the DB or its views afterwards returns
// state.ErrClosed.
func (d *DB) Close() error {
	if d.closed.Swap(true) {
		return state.ErrClosed
	}
	return d.db.Close()
}

// zapLogger is Pebble's Logger over zap.
type zapLogger struct{ s *zap.SugaredLogger }

func (l zapLogger) Infof(format string, args ...any)  { l.s.Infof(format, args...) }
func (l zapLogger) Errorf(format string, args ...any) { l.s.Errorf(format, args...) }

// Fatalf must not return (Pebble's contract: it is called on corruption
// it cannot continue past). A panic keeps the stack and runs deferred
// cleanup, unlike os.Exit.
func (l zapLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.s.Error(msg)
	panic("pebble: " + msg)
}

func appendName(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func taskPrefix(task string) []byte { return appendName([]byte{'d'}, task) }

func storePrefix(task, store string) []byte { return appendName(taskPrefix(task), store) }

func checkpointKey(task string) []byte { return appendName([]byte{'c'}, task) }

// Store returns a view of one store of one task. It reads and writes the
// database directly, so it is used as the base under a state.Pending in
// the runtime. A view is for one goroutine; take one view per goroutine.
func (d *DB) Store(task, store string) state.KeyValueStore {
	p := storePrefix(task, store)
	return &Store{d: d, task: task, prefix: p, end: state.PrefixEnd(p)}
}

// Checkpoint returns the task's checkpoint and whether there is one.
func (d *DB) Checkpoint(task string) (state.Checkpoint, bool, error) {
	if d.closed.Load() {
		return state.Checkpoint{}, false, state.ErrClosed
	}
	v, closer, err := d.db.Get(checkpointKey(task))
	if errors.Is(err, pb.ErrNotFound) {
		return state.Checkpoint{}, false, nil
	}
	if err != nil {
		return state.Checkpoint{}, false, fmt.Errorf("state/pebble: read checkpoint of task %s: %w", task, err)
	}
	defer closer.Close()
	var cp state.Checkpoint
	if err := cp.UnmarshalBinary(v); err != nil {
		return state.Checkpoint{}, false, fmt.Errorf("state/pebble: task %s: %w", task, err)
	}
	return cp, true, nil
}

// Tasks lists the tasks that have a checkpoint, in order, so the runtime
// can drop the ones no longer assigned here.
func (d *DB) Tasks() ([]string, error) {
	if d.closed.Load() {
		return nil, state.ErrClosed
	}
	it, err := d.db.NewIter(&pb.IterOptions{LowerBound: []byte{'c'}, UpperBound: []byte{'d'}})
	if err != nil {
		return nil, err
	}
	var tasks []string
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()[1:]
		n, w := binary.Uvarint(k)
		if w <= 0 || uint64(len(k)-w) != n {
			it.Close()
			return nil, fmt.Errorf("%w: checkpoint key %q", state.ErrCorrupt, it.Key())
		}
		tasks = append(tasks, string(k[w:]))
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	sort.Strings(tasks) // keys sort by name length first
	return tasks, nil
}

// DropTask deletes every store of the task and its checkpoint, in one
// batch with one range delete.
func (d *DB) DropTask(task string) error {
	if d.closed.Load() {
		return state.ErrClosed
	}
	b := d.db.NewBatch()
	defer b.Close()
	p := taskPrefix(task)
	_ = b.DeleteRange(p, state.PrefixEnd(p), nil)
	_ = b.Delete(checkpointKey(task), nil)
	err := d.apply(b)
	d.wrote(task)
	if err != nil {
		return fmt.Errorf("state/pebble: drop task %s: %w", task, err)
	}
	d.log.Debug("dropped task state", zap.String("task", task))
	return nil
}

// Commit applies the task's committed writes, per store, together with its
// new checkpoint, in one atomic batch. Call it once the Kafka transaction
// holding the same writes' changelog records has committed, then reset
// the batches.
func (d *DB) Commit(task string, writes map[string]state.Batch, cp state.Checkpoint) error {
	if d.closed.Load() {
		return state.ErrClosed
	}
	enc, err := cp.MarshalBinary()
	if err != nil {
		return err
	}
	b := d.db.NewBatch()
	defer b.Close()
	stores := make([]string, 0, len(writes))
	for s := range writes {
		stores = append(stores, s)
	}
	sort.Strings(stores)
	var kb []byte
	for _, s := range stores {
		prefix := storePrefix(task, s)
		w := writes[s]
		for _, r := range w.RangeDeletes() {
			end := state.PrefixEnd(prefix)
			if r.End != nil {
				end = append(append([]byte(nil), prefix...), r.End...)
			}
			_ = b.DeleteRange(append(append([]byte(nil), prefix...), r.Start...), end, nil)
		}
		err := w.EachPoint(func(k, v []byte, tombstone bool) error {
			kb = append(append(kb[:0], prefix...), k...)
			if tombstone {
				return b.Delete(kb, nil) // the batch copies kb
			}
			return b.Set(kb, v, nil)
		})
		if err != nil {
			return fmt.Errorf("state/pebble: commit task %s store %s: %w", task, s, err)
		}
	}
	_ = b.Set(checkpointKey(task), enc, nil)
	err = d.apply(b)
	d.wrote(task)
	if err != nil {
		return fmt.Errorf("state/pebble: commit task %s: %w", task, err)
	}
	return nil
}

// ApplyRestore writes changelog records read during restoration into one
// store of the task, together with the checkpoint that now describes it
// (its offset for this store's changelog partition moved past the
// records), in one atomic batch. Tombstones delete.
func (d *DB) ApplyRestore(task, store string, records []state.Change, cp state.Checkpoint) error {
	if d.closed.Load() {
		return state.ErrClosed
	}
	enc, err := cp.MarshalBinary()
	if err != nil {
		return err
	}
	prefix := storePrefix(task, store)
	b := d.db.NewBatch()
	defer b.Close()
	kb := prefix
	for _, r := range records {
		kb = append(kb[:len(prefix)], r.Key...)
		if r.Tombstone {
			_ = b.Delete(kb, nil)
		} else {
			_ = b.Set(kb, r.Value, nil)
		}
	}
	_ = b.Set(checkpointKey(task), enc, nil)
	err = d.apply(b)
	d.wrote(task)
	if err != nil {
		return fmt.Errorf("state/pebble: restore task %s store %s: %w", task, store, err)
	}
	return nil
}

func (d *DB) apply(b *pb.Batch) error {
	err := b.Commit(d.wo)
	d.writes.Add(1)
	return err
}

// Store is a view of one task's store in the DB.
type Store struct {
	d      *DB
	task   string
	prefix []byte
	end    []byte // PrefixEnd(prefix)
	kb, vb []byte // reused buffers: a view belongs to one goroutine
}

func (s *Store) key(k []byte) []byte {
	s.kb = append(append(s.kb[:0], s.prefix...), k...)
	return s.kb
}

// Get returns the value of key; the slice is valid until the next call on
// the view.
func (s *Store) Get(key []byte) ([]byte, bool, error) {
	if s.d.closed.Load() {
		return nil, false, state.ErrClosed
	}
	v, closer, err := s.d.db.Get(s.key(key))
	if errors.Is(err, pb.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	s.vb = append(s.vb[:0], v...)
	closer.Close()
	return s.vb, true, nil
}

// Put writes key = value to the database (Pebble copies both).
func (s *Store) Put(key, value []byte) error {
	if s.d.closed.Load() {
		return state.ErrClosed
	}
	err := s.d.db.Set(s.key(key), value, s.d.wo)
	s.d.writes.Add(1)
	s.d.wrote(s.task)
	return err
}

// Delete removes key.
func (s *Store) Delete(key []byte) error {
	if s.d.closed.Load() {
		return state.ErrClosed
	}
	err := s.d.db.Delete(s.key(key), s.d.wo)
	s.d.writes.Add(1)
	s.d.wrote(s.task)
	return err
}

// DeleteRange removes the keys in [start, end); a nil end means to the
// last key of the store.
func (s *Store) DeleteRange(start, end []byte) error {
	if s.d.closed.Load() {
		return state.ErrClosed
	}
	if end != nil && bytes.Compare(start, end) >= 0 {
		return nil
	}
	lo, hi := s.bounds(start, end)
	err := s.d.db.DeleteRange(lo, hi, s.d.wo)
	s.d.writes.Add(1)
	s.d.wrote(s.task)
	return err
}

func (s *Store) bounds(start, end []byte) (lo, hi []byte) {
	lo = append(append([]byte(nil), s.prefix...), start...)
	hi = s.end
	if end != nil {
		hi = append(append([]byte(nil), s.prefix...), end...)
	}
	return lo, hi
}

// Range iterates [start, end) of the store. The iterator sees writes made
// while it is open (for keys after its position): it re-opens its Pebble
// iterator, which is a snapshot, when the database has been written to.
func (s *Store) Range(start, end []byte) state.Iterator {
	it := &iter{s: s}
	if s.d.closed.Load() {
		it.err = state.ErrClosed
		return it
	}
	if end == nil || bytes.Compare(start, end) < 0 {
		it.lo, it.hi = s.bounds(start, end)
	} else {
		it.done = true
	}
	return it
}

type iter struct {
	s       *Store
	lo, hi  []byte
	it      *pb.Iterator
	version uint64
	last    []byte // the user key last returned, copied
	seek    []byte
	started bool
	done    bool
	err     error
}

func (i *iter) Next() bool {
	if i.done || i.err != nil {
		return false
	}
	if i.s.d.closed.Load() {
		i.err = state.ErrClosed
		return false
	}
	var ok bool
	switch v := i.s.d.writes.Load(); {
	case i.it == nil || v != i.version:
		if i.it != nil {
			if err := i.it.Close(); err != nil {
				i.err = err
				return false
			}
		}
		i.version = v
		it, err := i.s.d.db.NewIter(&pb.IterOptions{LowerBound: i.lo, UpperBound: i.hi})
		if err != nil {
			i.it, i.err = nil, err
			return false
		}
		i.it = it
		if !i.started {
			ok = it.First()
		} else {
			i.seek = append(append(i.seek[:0], i.s.prefix...), i.last...)
			ok = it.SeekGE(i.seek)
			if ok && bytes.Equal(it.Key()[len(i.s.prefix):], i.last) {
				ok = it.Next()
			}
		}
	default:
		ok = i.it.Next()
	}
	i.started = true
	if !ok {
		i.done = true
		if err := i.it.Error(); err != nil {
			i.err = err
		}
		return false
	}
	i.last = append(i.last[:0], i.Key()...)
	return true
}

func (i *iter) Key() []byte { return i.it.Key()[len(i.s.prefix):] }

func (i *iter) Value() []byte {
	v, err := i.it.ValueAndErr()
	if err != nil && i.err == nil {
		i.err = err
	}
	return v
}

func (i *iter) Err() error { return i.err }

func (i *iter) Close() error {
	i.done = true
	if i.it != nil {
		err := i.it.Close()
		i.it = nil
		if i.err == nil {
			i.err = err
		}
	}
	return i.err
}
