// Package topologytest runs a topology without Kafka, deterministically,
// on the same task core the runtime drives: pipe records in, advance the
// wall clock, read outputs and stores. Bad input is handled as in a
// worker: dead-lettered by default (Driver.DeadLetters).
//
// Each sub-topology gets one task per partition (one partition by
// default). Outputs to a topic the topology reads (repartition topics, or
// any topic fed back) are routed to the reading task at once, so a Pipe
// returns only when everything it caused has been processed.
package topologytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/topology"
)

// ErrUnknownStore is returned for a store the topology does not have.
var ErrUnknownStore = errors.New("topologytest: unknown store")

// Opt configures New.
type Opt func(*config)

type config struct {
	manualCommit bool
	partitions   int32
	wallStart    time.Time
	taskOpts     []topology.TaskOpt
	changelogs   bool
}

// Partitions sets how many partitions every topic has. Default: 1.
func Partitions(n int32) Opt { return func(c *config) { c.partitions = n } }

// ManualCommit stops the driver from committing after every PipeRaw,
// Pipe and AdvanceWallClock; call Driver.Commit instead. Use it to test
// what a topology buffers until commit (Context.OnCommit). Default: a
// commit after every call, as a runtime committing after each record.
func ManualCommit() Opt { return func(c *config) { c.manualCommit = true } }

// Changelogs makes the driver keep the records each store's changelog
// would get, as the runtime writes them: at each commit, one record per
// key changed since the last (a tombstone for a delete), in key order,
// leaving out the derived time index of window and session stores. Read
// them with Outputs(<app>-<store>-changelog); RestoreFromChangelogs
// rebuilds the stores from them. Default: off.
func Changelogs() Opt { return func(c *config) { c.changelogs = true } }

// WallClockStart sets the initial wall-clock time. Default: Unix 0.
func WallClockStart(t time.Time) Opt { return func(c *config) { c.wallStart = t } }

// TaskOpts passes options to every task (e.g. topology.DefaultBadInput).
func TaskOpts(opts ...topology.TaskOpt) Opt {
	return func(c *config) { c.taskOpts = append(c.taskOpts, opts...) }
}

// Driver runs a topology in memory. It is not safe for concurrent use.
type Driver struct {
	topo       *topology.Topology
	partitions int32
	tasks      map[topology.TaskID]*topology.Task
	order      []topology.TaskID
	stores     map[string][]state.KeyValueStore // name -> per partition
	globals    map[string]state.KeyValueStore   // topic -> store
	outputs    map[string][]topology.Output
	offsets    map[topology.TopicPartition]int64
	wall       time.Time
	autoCommit bool
	taskOpts   []topology.TaskOpt // as New opened the tasks with
	logged     []*taskStore       // with Changelogs: every task store, in order
}

// taskStore is one task's store: like the runtime's, it keeps one
// state.IndexWatermark for the window and session stores over it (a
// join's two sides), so the task core runs the same code under both.
type taskStore struct {
	state.KeyValueStore
	wm state.IndexWatermark
	// With Changelogs: the changelog topic, the derived index left out
	// of it, and the changes since the last commit (nil: a tombstone).
	topic   string
	part    int32
	index   *state.Index
	logging bool
	log     map[string][]byte
}

func (t *taskStore) IndexWatermark() *state.IndexWatermark { return &t.wm }

func (t *taskStore) record(k, v []byte) {
	if t.logging && (t.index == nil || !t.index.Derived(k)) {
		if v != nil {
			v = append([]byte{}, v...)
		}
		t.log[string(k)] = v
	}
}

func (t *taskStore) Put(k, v []byte) error {
	t.record(k, v)
	if v == nil {
		v = []byte{}
	}
	return t.KeyValueStore.Put(k, v)
}

func (t *taskStore) Delete(k []byte) error {
	t.record(k, nil)
	return t.KeyValueStore.Delete(k)
}

// DeleteRange logs a tombstone per key it removes, as the runtime does:
// a compacted changelog has no range deletes.
func (t *taskStore) DeleteRange(start, end []byte) error {
	if t.logging {
		it := t.KeyValueStore.Range(start, end)
		for it.Next() {
			t.record(it.Key(), nil)
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	return t.KeyValueStore.DeleteRange(start, end)
}

// flush returns the changes since the last call as changelog records.
func (t *taskStore) flush() []topology.Output {
	if len(t.log) == 0 {
		return nil
	}
	keys := sortedKeys(t.log)
	out := make([]topology.Output, len(keys))
	for i, k := range keys {
		out[i] = topology.Output{Topic: t.topic, Partition: t.part, Key: []byte(k), Value: t.log[k]}
	}
	clear(t.log)
	return out
}

func sortedKeys(m map[string][]byte) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// storeIndex is the derived index of a store kind, as the runtime has it.
func storeIndex(k topology.StoreKind) *state.Index {
	switch k {
	case topology.KindWindow:
		return state.WindowIndex
	case topology.KindSession:
		return state.SessionIndex
	}
	return nil
}

type taskStores struct {
	d    *Driver
	part int32
}

func (s taskStores) KeyValue(name string) (state.KeyValueStore, error) {
	for _, g := range s.d.topo.GlobalTables() {
		if g.Store == name {
			return s.d.globals[g.Topic], nil
		}
	}
	ps, ok := s.d.stores[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownStore, name)
	}
	return ps[s.part], nil
}

// New starts a driver with every task created and the wall clock at its
// start.
func New(topo *topology.Topology, opts ...Opt) (*Driver, error) {
	cfg := config{partitions: 1, wallStart: time.Unix(0, 0).UTC()}
	for _, o := range opts {
		o(&cfg)
	}
	if topo == nil {
		return nil, errors.New("topologytest: nil topology (did Build fail?)")
	}
	if cfg.partitions < 1 {
		return nil, fmt.Errorf("topologytest: partitions must be positive, got %d", cfg.partitions)
	}
	d := &Driver{
		topo:       topo,
		partitions: cfg.partitions,
		tasks:      map[topology.TaskID]*topology.Task{},
		stores:     map[string][]state.KeyValueStore{},
		globals:    map[string]state.KeyValueStore{},
		outputs:    map[string][]topology.Output{},
		offsets:    map[topology.TopicPartition]int64{},
		wall:       cfg.wallStart,
		autoCommit: !cfg.manualCommit,
	}
	for _, g := range topo.GlobalTables() {
		d.globals[g.Topic] = state.NewMemory()
	}
	counts := map[string]int32{}
	for _, st := range topo.Subtopologies() {
		for _, s := range st.Stores {
			ps := make([]state.KeyValueStore, cfg.partitions)
			for i := range ps {
				ts := &taskStore{KeyValueStore: state.NewMemory(), topic: s.Changelog, part: int32(i),
					index: storeIndex(s.Kind), logging: cfg.changelogs, log: map[string][]byte{}}
				ps[i] = ts
				if cfg.changelogs {
					d.logged = append(d.logged, ts)
				}
			}
			d.stores[s.Name] = ps
		}
		for _, s := range st.Sinks {
			counts[s.Topic] = cfg.partitions
		}
	}
	taskOpts := append([]topology.TaskOpt{topology.WithPartitionCounts(counts)}, cfg.taskOpts...)
	d.taskOpts = taskOpts
	for _, st := range topo.Subtopologies() {
		for p := int32(0); p < cfg.partitions; p++ {
			id := topology.TaskID{Subtopology: st.ID, Partition: p}
			t, err := topo.NewTask(id, taskStores{d: d, part: p}, taskOpts...)
			if err != nil {
				return nil, err
			}
			if err := t.Punctuate(d.wall); err != nil {
				return nil, err
			}
			d.tasks[id] = t
			d.order = append(d.order, id)
		}
	}
	return d, nil
}

// PipeRaw feeds one record of bytes to topic at timestamp ts. The
// partition is picked like Kafka's default producer (murmur2 of the key).
// An error wrapping topology.ErrWaiting means a task could not decode a
// record because a dependency is down (a serde returned
// codec.ErrRegistryUnavailable): the record stays buffered and any later
// call (Commit, say) tries it again.
func (d *Driver) PipeRaw(topic string, key, value []byte, ts time.Time, headers ...codec.Header) error {
	if err := d.pipe(topology.Output{Topic: topic, Partition: -1, Key: key, Value: value, Timestamp: ts, Headers: headers}, false); err != nil {
		return err
	}
	return d.autoCommitNow()
}

func (d *Driver) autoCommitNow() error {
	if !d.autoCommit {
		return nil
	}
	return d.Commit()
}

// Commit commits every task, in task order, as the runtime does: it runs
// the tasks' commit hooks (Task.Commit) and processes whatever their
// outputs cause.
func (d *Driver) Commit() error {
	for _, id := range d.order {
		t := d.tasks[id]
		err := t.Commit()
		if rerr := d.route(t); rerr != nil {
			return rerr
		}
		if err != nil {
			return err
		}
	}
	if err := d.run(); err != nil {
		return err
	}
	for _, ts := range d.logged {
		for _, o := range ts.flush() {
			d.outputs[o.Topic] = append(d.outputs[o.Topic], o)
		}
	}
	return nil
}

// RestoreFromChangelogs (with Changelogs) stands for a crash and a restore
// on a new machine: every store is rebuilt from its changelog records
// alone (window and session stores get their index derived again, as the
// runtime does), writes not yet committed are lost, and the tasks are
// reopened (see Reopen). Outputs and input offsets are kept.
func (d *Driver) RestoreFromChangelogs() error {
	if len(d.logged) == 0 {
		return errors.New("topologytest: RestoreFromChangelogs needs the Changelogs option")
	}
	if err := d.Close(); err != nil {
		return err
	}
	for _, ts := range d.logged {
		var recs []state.Change
		for _, o := range d.outputs[ts.topic] {
			if o.Partition == ts.part {
				recs = append(recs, state.Change{Key: o.Key, Value: o.Value, Tombstone: o.Value == nil})
			}
		}
		if ts.index != nil {
			var err error
			if recs, err = ts.index.Derive(nil, recs); err != nil {
				return err
			}
		}
		kv := state.NewMemory()
		for _, r := range recs {
			var err error
			if r.Tombstone {
				err = kv.Delete(r.Key)
			} else {
				err = kv.Put(r.Key, r.Value)
			}
			if err != nil {
				return err
			}
		}
		ts.KeyValueStore = kv
		ts.wm.Reset()
		clear(ts.log)
	}
	return d.reopen()
}

func (d *Driver) partitionOf(key []byte) int32 {
	if key == nil {
		return 0
	}
	return int32(murmur2(key)&0x7fffffff) % d.partitions
}

// pipe delivers r to whatever reads its topic and processes until idle.
// Internal records are outputs of the topology fed back.
func (d *Driver) pipe(r topology.Output, internal bool) error {
	part := r.Partition
	if part < 0 {
		part = d.partitionOf(r.Key)
	}
	if g, ok := d.globals[r.Topic]; ok {
		if r.Value == nil {
			return g.Delete(r.Key)
		}
		return g.Put(r.Key, r.Value)
	}
	sub, ok := d.topo.SubtopologyOf(r.Topic)
	if !ok {
		if internal {
			return nil
		}
		return fmt.Errorf("%w: %q", topology.ErrUnknownTopic, r.Topic)
	}
	tp := topology.TopicPartition{Topic: r.Topic, Partition: part}
	off := d.offsets[tp]
	d.offsets[tp] = off + 1
	t := d.tasks[topology.TaskID{Subtopology: sub, Partition: part}]
	if err := t.Add(topology.Record{Topic: r.Topic, Partition: part, Offset: off, Key: r.Key,
		Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers}); err != nil {
		return err
	}
	return d.run()
}

// run processes every task until none has buffered input, routing outputs.
// A task waiting on an unavailable dependency (topology.ErrWaiting) keeps
// its records while the others go on; run then returns that error, and
// any later call tries the task again.
func (d *Driver) run() error {
	for {
		progress := false
		var waiting error
		for _, id := range d.order {
			t := d.tasks[id]
			for {
				ok, err := t.Process(context.Background())
				if err := d.route(t); err != nil {
					return err
				}
				if errors.Is(err, topology.ErrWaiting) {
					waiting = errors.Join(waiting, err)
					break
				}
				if err != nil {
					return err
				}
				if !ok {
					break
				}
				progress = true
			}
		}
		if !progress {
			return waiting
		}
	}
}

// route takes t's outputs: each is kept for reading and, if the topology
// reads its topic, delivered (processed on the next round of run).
func (d *Driver) route(t *topology.Task) error {
	for _, o := range t.TakeOutputs() {
		d.outputs[o.Topic] = append(d.outputs[o.Topic], o)
		part := o.Partition
		if part < 0 {
			part = d.partitionOf(o.Key)
		}
		if g, ok := d.globals[o.Topic]; ok {
			var err error
			if o.Value == nil {
				err = g.Delete(o.Key)
			} else {
				err = g.Put(o.Key, o.Value)
			}
			if err != nil {
				return err
			}
			continue
		}
		sub, ok := d.topo.SubtopologyOf(o.Topic)
		if !ok {
			continue
		}
		tp := topology.TopicPartition{Topic: o.Topic, Partition: part}
		off := d.offsets[tp]
		d.offsets[tp] = off + 1
		if err := d.tasks[topology.TaskID{Subtopology: sub, Partition: part}].Add(topology.Record{
			Topic: o.Topic, Partition: part, Offset: off, Key: o.Key, Value: o.Value,
			Timestamp: o.Timestamp, Headers: o.Headers}); err != nil {
			return err
		}
	}
	return nil
}

// AdvanceWallClock moves the wall clock by dur and fires the wall-clock
// punctuations due, in task order.
func (d *Driver) AdvanceWallClock(dur time.Duration) error {
	d.wall = d.wall.Add(dur)
	for _, id := range d.order {
		t := d.tasks[id]
		err := t.Punctuate(d.wall)
		if rerr := d.route(t); rerr != nil {
			return rerr
		}
		if err != nil {
			return err
		}
	}
	if err := d.run(); err != nil {
		return err
	}
	return d.autoCommitNow()
}

// WallClock is the driver's current wall-clock time.
func (d *Driver) WallClock() time.Time { return d.wall }

// Outputs returns every record written to topic so far (internal topics
// and the dead-letter topic included).
func (d *Driver) Outputs(topic string) []topology.Output {
	return append([]topology.Output(nil), d.outputs[topic]...)
}

// DeadLetters returns the records sent to the dead-letter topic
// (<app>-dlq), in order: the original key, value, timestamp and headers,
// plus the weir.* headers of codec.DeadLetterHeaders naming the error,
// topic, partition and offset. Bad input is dead-lettered unless a policy
// says otherwise, as in a worker (see topology.BadInputPolicy).
func (d *Driver) DeadLetters() []topology.Output { return d.Outputs(d.topo.DeadLetterTopic()) }

// Stats sums the counters of every task.
func (d *Driver) Stats() topology.TaskStats {
	var s topology.TaskStats
	for _, id := range d.order {
		s = s.Add(d.tasks[id].Stats())
	}
	return s
}

// Task returns the task id, for inspecting stream time or offsets.
func (d *Driver) Task(id topology.TaskID) (*topology.Task, bool) {
	t, ok := d.tasks[id]
	return t, ok
}

// Store returns partition 0 of the store name (or the global store).
func (d *Driver) Store(name string) (state.KeyValueStore, error) { return d.StoreAt(name, 0) }

// StoreAt returns one partition of the store name. Writes to it bypass
// what the task's window and session stores know of it, so the driver
// forgets that (as the runtime does after an abort).
func (d *Driver) StoreAt(name string, partition int32) (state.KeyValueStore, error) {
	if partition < 0 || partition >= d.partitions {
		return nil, fmt.Errorf("topologytest: partition %d out of [0, %d)", partition, d.partitions)
	}
	kv, err := taskStores{d: d, part: partition}.KeyValue(name)
	if ts, ok := kv.(*taskStore); ok {
		ts.wm.Reset()
		return ts.KeyValueStore, nil
	}
	return kv, err
}

// Reopen closes every task and opens it again over the same stores, as a
// worker does after a restart or a restore: processors start with nothing
// in memory and stream time starts afresh; stores, outputs and input
// offsets are kept. Records still buffered (see PipeRaw) are dropped.
// With ManualCommit, call Commit first: a processor may hold writes in
// memory until its commit hook (the profile's write-back cache), and
// those are dropped too, while the stores keep what was written.
func (d *Driver) Reopen() error {
	if err := d.Close(); err != nil {
		return err
	}
	return d.reopen()
}

func (d *Driver) reopen() error {
	for _, id := range d.order {
		t, err := d.topo.NewTask(id, taskStores{d: d, part: id.Partition}, d.taskOpts...)
		if err != nil {
			return err
		}
		if err := t.Punctuate(d.wall); err != nil {
			return err
		}
		d.tasks[id] = t
	}
	return nil
}

// Close closes every task.
func (d *Driver) Close() error {
	var errs []error
	for _, id := range d.order {
		errs = append(errs, d.tasks[id].Close())
	}
	return errors.Join(errs...)
}

// KeyValue is one entry of a store.
type KeyValue[K, V any] struct {
	Key   K
	Value V
}

// StoreView reads a store across all partitions, typed.
type StoreView[K, V any] struct {
	views []*topology.KVStore[K, V]
	raw   []state.KeyValueStore
	ks    codec.Serde[K]
	topic string
}

// KV returns a typed view of the store name over every partition.
func KV[K, V any](d *Driver, name string, ks codec.Serde[K], vs codec.Serde[V]) (*StoreView[K, V], error) {
	info, ok := d.topo.Store(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownStore, name)
	}
	topic := info.Changelog
	if topic == "" {
		for _, g := range d.topo.GlobalTables() {
			if g.Store == name {
				topic = g.Topic
			}
		}
	}
	sv := &StoreView[K, V]{ks: ks, topic: topic}
	n := d.partitions
	if info.Changelog == "" {
		n = 1 // global: one copy
	}
	for p := int32(0); p < n; p++ {
		kv, err := d.StoreAt(name, p)
		if err != nil {
			return nil, err
		}
		sv.raw = append(sv.raw, kv)
		sv.views = append(sv.views, topology.WrapKV(kv, topic, ks, vs))
	}
	return sv, nil
}

// Get looks k up in every partition.
func (s *StoreView[K, V]) Get(k K) (V, bool, error) {
	for _, v := range s.views {
		x, ok, err := v.Get(k)
		if err != nil || ok {
			return x, ok, err
		}
	}
	var zero V
	return zero, false, nil
}

// All returns every entry of every partition, in encoded-key order.
func (s *StoreView[K, V]) All() ([]KeyValue[K, V], error) {
	type entry struct {
		kb []byte
		kv KeyValue[K, V]
	}
	var es []entry
	for _, v := range s.views {
		err := v.All(func(k K, val V) (bool, error) {
			kb, err := s.ks.Encode(s.topic, k)
			if err != nil {
				return false, err
			}
			es = append(es, entry{kb: kb, kv: KeyValue[K, V]{Key: k, Value: val}})
			return true, nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.SliceStable(es, func(i, j int) bool { return bytes.Compare(es[i].kb, es[j].kb) < 0 })
	out := make([]KeyValue[K, V], len(es))
	for i, e := range es {
		out[i] = e.kv
	}
	return out, nil
}
