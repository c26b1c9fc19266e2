package topology

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/state"
)

// Task errors.
var (
	// ErrRecordFailed is returned by Process when a record fails under the
	// Fail policy; the message names topic, partition and offset.
	ErrRecordFailed = errors.New("topology: record failed")
	// ErrUnknownTopic is returned by Add for a topic the task does not read.
	ErrUnknownTopic = errors.New("topology: topic not read by this task")
	// ErrPunctuation wraps an error returned by a punctuation function.
	ErrPunctuation = errors.New("topology: punctuation failed")
	// ErrPartitionCount is returned when a sink with a partitioner writes
	// to a topic whose partition count the task was not given.
	ErrPartitionCount = errors.New("topology: unknown partition count")
	// ErrTaskFailed is returned by every call after a task failed.
	ErrTaskFailed = errors.New("topology: task already failed")
	// ErrCommitHook wraps an error returned by a commit hook.
	ErrCommitHook = errors.New("topology: commit hook failed")

	// ErrWaiting is returned by Process when the next record cannot be
	// decoded because a dependency is unavailable (the error also wraps
	// the cause, codec.ErrRegistryUnavailable). Nothing changed: the
	// record is still first in its queue, Held names it, and a later
	// Process tries it again. The task never waits itself; the runtime
	// decides when to call again. Outages are never bad input.
	ErrWaiting = errors.New("topology: waiting for an unavailable dependency")

	// ErrInterrupted is returned by Process, Punctuate or Commit when a
	// dependency became unavailable after the work in hand may have
	// written state or produced outputs (a sink's encode, a store's
	// serde, a user function). It wraps the cause. The task has failed,
	// as after any error: drop its uncommitted state and outputs, rebuild
	// it from its last commit (as after an aborted transaction) and let
	// it redo the work later.
	ErrInterrupted = errors.New("topology: interrupted by an unavailable dependency")
)

// unavailable reports whether err comes from a dependency being down (or
// from ctx ending), rather than from the record.
func unavailable(ctx context.Context, err error) bool {
	return errors.Is(err, codec.ErrRegistryUnavailable) ||
		ctx != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// TaskID names a task: one partition of one sub-topology.
type TaskID struct {
	Subtopology int
	Partition   int32
}

func (id TaskID) String() string { return fmt.Sprintf("%d_%d", id.Subtopology, id.Partition) }

// TopicPartition names an input partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Record is an input record, as raw bytes. After Add, the task owns its
// slices.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Timestamp time.Time
	Headers   []Header
}

// Output is a record the task produced. Partition -1 lets the producer
// choose (murmur2 of the key, as Kafka's default partitioner).
type Output struct {
	Topic     string
	Partition int32
	Key       []byte
	Value     []byte // nil for a tombstone
	Timestamp time.Time
	Headers   []Header
}

// Stores gives a task its stores. The runtime wraps its backend so that
// writes land in the pending (uncommitted) batch and are logged to the
// changelog; the task itself writes no changelog records.
type Stores interface {
	KeyValue(name string) (state.KeyValueStore, error)
}

// TaskStats counts what a task did.
type TaskStats struct {
	RecordsIn    int64 // records taken by Process
	RecordsOut   int64 // outputs to sinks (not dead letters)
	Skipped      int64 // bad records dropped under Skip
	DeadLettered int64 // bad records sent to the dead-letter topic
	// Of DeadLettered, those whose key or value did not decode; the
	// others failed in a processor.
	DeadLetteredUndecodable int64
	Late                    int64 // records dropped as too late by windows and stream-stream joins
	Erasures                int64 // erasure requests applied (ErasuresOf)
	Erased                  int64 // records ignored as not newer than their key's erasure
}

// Add returns s plus o, field by field.
func (s TaskStats) Add(o TaskStats) TaskStats {
	return TaskStats{
		RecordsIn: s.RecordsIn + o.RecordsIn, RecordsOut: s.RecordsOut + o.RecordsOut,
		Skipped: s.Skipped + o.Skipped, DeadLettered: s.DeadLettered + o.DeadLettered,
		DeadLetteredUndecodable: s.DeadLetteredUndecodable + o.DeadLetteredUndecodable,
		Late:                    s.Late + o.Late,
		Erasures:                s.Erasures + o.Erasures, Erased: s.Erased + o.Erased,
	}
}

// Sub returns s minus o, field by field: the counts since o was taken.
func (s TaskStats) Sub(o TaskStats) TaskStats {
	return s.Add(TaskStats{
		RecordsIn: -o.RecordsIn, RecordsOut: -o.RecordsOut, Skipped: -o.Skipped,
		DeadLettered: -o.DeadLettered, DeadLetteredUndecodable: -o.DeadLetteredUndecodable, Late: -o.Late,
		Erasures: -o.Erasures, Erased: -o.Erased,
	})
}

// TaskOpt configures NewTask.
type TaskOpt interface{ applyTask(*taskCfg) }

type taskCfg struct {
	policy     BadInputPolicy
	partitions map[string]int32
	log        *slog.Logger
}

type taskOptFunc func(*taskCfg)

func (f taskOptFunc) applyTask(c *taskCfg) { f(c) }

// DefaultBadInput is the policy of sources that set none. Default:
// DeadLetter (see BadInputPolicy).
func DefaultBadInput(p BadInputPolicy) TaskOpt {
	return taskOptFunc(func(c *taskCfg) { c.policy = p })
}

// WithPartitionCounts gives the partition counts of sink topics, needed
// by sinks with a custom partitioner. Default: none.
func WithPartitionCounts(counts map[string]int32) TaskOpt {
	return taskOptFunc(func(c *taskCfg) { c.partitions = counts })
}

// WithLogger sets the logger (package topology depends on no logging
// library; processor bridges its zap logger). Default: none, nothing is
// logged.
func WithLogger(l *slog.Logger) TaskOpt {
	return taskOptFunc(func(c *taskCfg) { c.log = l })
}

type queued struct {
	rec        Record
	key, value any
	ts         time.Time
	decoded    bool
	err        error // decode error, handled when the record is processed
}

type queue struct {
	tp    TopicPartition
	src   *node
	items []queued
	// base is items' backing array from its start: Process takes records
	// from the front, and an emptied queue starts there again instead of
	// growing a new array (no allocation per record in steady state).
	base []queued
}

type schedule struct {
	nc       *nodeCtx
	interval time.Duration
	typ      PunctuationType
	fn       func(time.Time) error
	next     time.Time
	armed    bool
	stopped  bool
}

// Task is the deterministic, single-threaded core of one task: feed it
// records (Add) and time (Punctuate), let it work (Process), take what it
// produced (TakeOutputs) and where it is (Offsets). It does no I/O and
// reads no clock, so the runtime and the test driver get the same results
// from the same inputs.
type Task struct {
	topo   *Topology
	sub    *subtopology
	id     TaskID
	cfg    taskCfg
	stores map[string]state.KeyValueStore
	procs  map[*node]proc
	// queues sorted by topic for a stable tie-break.
	queues  []*queue
	byTopic map[string]*queue
	offsets map[TopicPartition]int64

	streamTime  time.Time
	seenTime    bool
	wallTime    time.Time
	seenWall    bool
	schedules   []*schedule
	timeHooks   []func(streamTime time.Time) error
	commitHooks []commitHook
	ttls        []*ttlStore // stores with a TTL (ttl.go)

	outputs []Output
	stats   TaskStats
	// erased holds the sub-topology's erased keys (as its erasure store
	// keeps them) and their erasure times; nil when there are none.
	erased    map[string]int64
	erasedBuf []byte // erasedBefore's key encoding
	failed    error
	// ctx is Process's context while it runs, for serdes that take one.
	ctx context.Context

	// The record being processed.
	inRecord   bool
	cur        Record
	curTime    time.Time
	curHeaders []Header
}

// NewTask makes the task id of t. It opens the sub-topology's stores
// (and global stores) from stores and initialises every processor.
func (t *Topology) NewTask(id TaskID, stores Stores, opts ...TaskOpt) (*Task, error) {
	if id.Subtopology < 0 || id.Subtopology >= len(t.subs) {
		return nil, fmt.Errorf("topology: no sub-topology %d", id.Subtopology)
	}
	sub := t.subs[id.Subtopology]
	tk := &Task{
		topo:    t,
		sub:     sub,
		id:      id,
		stores:  map[string]state.KeyValueStore{},
		procs:   map[*node]proc{},
		byTopic: map[string]*queue{},
		offsets: map[TopicPartition]int64{},
	}
	for _, o := range opts {
		if o != nil {
			o.applyTask(&tk.cfg)
		}
	}
	if tk.cfg.log == nil {
		tk.cfg.log = slog.New(slog.DiscardHandler)
	}
	if tk.cfg.policy == PolicyUnset {
		tk.cfg.policy = DeadLetter
	}
	names := append(append([]string(nil), sub.storeNames...), t.globalNames...)
	if stores == nil && len(names) > 0 {
		return nil, fmt.Errorf("task %s: %w: nil Stores for %q", id, ErrUnknownStore, names)
	}
	for _, name := range names {
		kv, err := stores.KeyValue(name)
		if err != nil {
			return nil, fmt.Errorf("task %s: store %q: %w", id, name, err)
		}
		if kv == nil {
			return nil, fmt.Errorf("task %s: %w: %q not provided", id, ErrUnknownStore, name)
		}
		tk.stores[name] = kv
	}
	tk.openTTL()
	// Make processors children first, so each node's children exist.
	ctxs := map[*node]*nodeCtx{}
	for i := len(sub.nodes) - 1; i >= 0; i-- {
		n := sub.nodes[i]
		nc := &nodeCtx{t: tk, n: n}
		for _, c := range n.children {
			cp := tk.procs[c]
			if cp == nil { // a graph Build did not make: fail, never panic later
				return nil, fmt.Errorf("task %s: node %q: child %q is not in sub-topology %d", id, n.name, c.name, sub.id)
			}
			nc.children = append(nc.children, cp)
		}
		ctxs[n] = nc
		p, err := n.newProc(nc)
		if err != nil {
			return nil, fmt.Errorf("task %s: node %q: %w", id, n.name, err)
		}
		tk.procs[n] = p
	}
	for _, n := range sub.nodes {
		if n.kind != kindSource {
			continue
		}
		q := &queue{tp: TopicPartition{Topic: n.topic, Partition: id.Partition}, src: n}
		tk.queues = append(tk.queues, q)
		tk.byTopic[n.topic] = q
	}
	sort.Slice(tk.queues, func(i, j int) bool { return tk.queues[i].tp.Topic < tk.queues[j].tp.Topic })
	if sub.erasure != nil {
		if err := tk.loadErasures(); err != nil {
			return nil, fmt.Errorf("task %s: %w", id, err)
		}
	}
	return tk, nil
}

// ID is the task's id.
func (t *Task) ID() TaskID { return t.id }

// Add buffers r for processing. Records of one partition must come in
// offset order. Add calls no serde: a record is decoded by Process once
// it is first in its queue (its event time orders the queues), and
// decode errors surface when it is processed.
func (t *Task) Add(r Record) error {
	q := t.byTopic[r.Topic]
	if q == nil || r.Partition != t.id.Partition {
		return fmt.Errorf("%w: %s/%d (task %s)", ErrUnknownTopic, r.Topic, r.Partition, t.id)
	}
	grow := len(q.items) == cap(q.items)
	q.items = append(q.items, queued{rec: r, ts: r.Timestamp})
	if grow {
		q.base = q.items
	}
	return nil
}

// decodeHead decodes the first record of q unless done. An outage leaves
// it undecoded, to be tried again.
func (t *Task) decodeHead(ctx context.Context, q *queue) error {
	it := &q.items[0]
	if it.decoded {
		return nil
	}
	k, v, err := q.src.decode(ctx, &it.rec)
	if err != nil && unavailable(ctx, err) {
		return err
	}
	it.key, it.value, it.err, it.decoded = k, v, err, true
	if err == nil && q.src.extract != nil {
		it.ts = q.src.extract(k, v, it.rec.Timestamp)
	}
	return nil
}

// Buffered is the number of records added but not yet processed.
func (t *Task) Buffered() int {
	n := 0
	for _, q := range t.queues {
		n += len(q.items)
	}
	return n
}

// Ready reports whether the task may process its next record: something
// is buffered, and every input partition with nothing buffered is one
// caughtUp says will give nothing earlier (it is at its end, or has been
// waited for long enough). Taking records only then merges co-partitioned
// inputs the same way on every run over the same input, as Kafka Streams
// does with max.task.idle.ms.
func (t *Task) Ready(caughtUp func(TopicPartition) bool) bool {
	buffered := false
	for _, q := range t.queues {
		if len(q.items) > 0 {
			buffered = true
		}
	}
	if !buffered {
		return false
	}
	for _, q := range t.queues {
		if len(q.items) == 0 && !caughtUp(q.tp) {
			return false
		}
	}
	return true
}

// Held returns, for each input partition with records added but not yet
// processed, the offset of the first of them: a commit of the input
// offsets must stop there, or a crash would skip them.
func (t *Task) Held() map[TopicPartition]int64 {
	var first map[TopicPartition]int64
	for _, q := range t.queues {
		if len(q.items) == 0 {
			continue
		}
		if first == nil {
			first = map[TopicPartition]int64{}
		}
		first[q.tp] = q.items[0].rec.Offset
	}
	return first
}

// Inputs are the task's input partitions.
func (t *Task) Inputs() []TopicPartition {
	out := make([]TopicPartition, len(t.queues))
	for i, q := range t.queues {
		out[i] = q.tp
	}
	return out
}

// Process handles one buffered record: among the partitions with buffered
// records it takes the head with the smallest event time (ties: by topic
// name), so co-partitioned inputs merge in event-time order, as Kafka
// Streams' PartitionGroup does. It returns false when nothing is buffered.
// ctx is passed to serdes that take one (codec.ContextSerde).
//
// An error wrapping ErrWaiting leaves the task as it was: call Process
// again later. Any other error stops the task: later calls return
// ErrTaskFailed (ErrInterrupted says why it is not the record's fault).
func (t *Task) Process(ctx context.Context) (processed bool, err error) {
	if t.failed != nil {
		return false, fmt.Errorf("%w: %w", ErrTaskFailed, t.failed)
	}
	// Every head is decoded before choosing: the choice needs their event
	// times, and a head that cannot be decoded now keeps the task waiting
	// so that the merge order is the same as without the outage.
	for _, c := range t.queues {
		if len(c.items) == 0 {
			continue
		}
		if err := t.decodeHead(ctx, c); err != nil {
			r := c.items[0].rec
			return false, fmt.Errorf("%w: task %s: topic %s partition %d offset %d: %w",
				ErrWaiting, t.id, r.Topic, r.Partition, r.Offset, err)
		}
	}
	var q *queue
	for _, c := range t.queues {
		if len(c.items) > 0 && (q == nil || c.items[0].ts.Before(q.items[0].ts)) {
			q = c
		}
	}
	if q == nil {
		return false, nil
	}
	it := q.items[0]
	q.items[0] = queued{}
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = q.base[:0]
	}
	t.stats.RecordsIn++
	t.ctx = ctx
	err = t.processOne(q, it)
	t.ctx = nil
	if err != nil {
		if unavailable(ctx, err) {
			err = fmt.Errorf("%w: task %s: topic %s partition %d offset %d: %w",
				ErrInterrupted, t.id, it.rec.Topic, it.rec.Partition, it.rec.Offset, err)
		}
		t.failed = err
		return true, err
	}
	t.offsets[q.tp] = it.rec.Offset + 1
	return true, nil
}

// context is the context of the Process call in hand, for serdes.
func (t *Task) context() context.Context {
	if t.ctx != nil {
		return t.ctx
	}
	return context.Background()
}

func (t *Task) processOne(q *queue, it queued) error {
	r := it.rec
	err := it.err
	if err != nil {
		err = userErr("source "+r.Topic, err)
	} else {
		// An erasure request is not an event: made now, it must not close
		// the windows of a replay of last month.
		if q.src.erasure == nil && (!t.seenTime || it.ts.After(t.streamTime)) {
			t.streamTime, t.seenTime = it.ts, true
			// Expire before the record is processed: it must not see
			// keys past their TTL at its own stream time.
			if len(t.ttls) > 0 {
				if err := t.sweepTTL(); err != nil {
					return fmt.Errorf("task %s: stream time %s: %w", t.id, t.streamTime.UTC().Format(time.RFC3339Nano), err)
				}
			}
		}
		err = t.processRecord(q, it)
	}
	if err != nil {
		if unavailable(t.ctx, err) {
			return err // not the record's fault: Process says ErrInterrupted
		}
		if !isRecordError(err) {
			return fmt.Errorf("task %s: topic %s partition %d offset %d: %w", t.id, r.Topic, r.Partition, r.Offset, err)
		}
		if err := t.badRecord(q.src, r, err, it.err != nil); err != nil {
			return err
		}
	}
	for _, h := range t.timeHooks {
		if err := h(t.streamTime); err != nil {
			return fmt.Errorf("task %s: stream time %s: %w", t.id, t.streamTime.UTC().Format(time.RFC3339Nano), err)
		}
	}
	return t.punctuate(StreamTime, t.streamTime)
}

// processRecord passes a decoded record to its source, unless its key was
// erased after it; an erasure request then erases its key.
func (t *Task) processRecord(q *queue, it queued) error {
	if t.erased != nil && q.src.erasure == nil {
		if gone, err := t.erasedBefore(it.key, it.ts); err != nil || gone {
			if gone {
				t.stats.Erased++
			}
			return err
		}
	}
	r := it.rec
	t.inRecord, t.cur, t.curTime, t.curHeaders = true, r, it.ts, r.Headers
	err := t.procs[q.src].process(msg{key: it.key, value: it.value, ts: it.ts, headers: r.Headers})
	t.inRecord, t.cur, t.curHeaders = false, Record{}, nil
	// A request is applied even if a processor failed on it: that error
	// dead-letters it (or stops the task), never the erasure.
	if q.src.erasure != nil && (err == nil || isRecordError(err)) {
		if eerr := t.erase(it.key, it.ts); eerr != nil {
			return eerr
		}
	}
	return err
}

// badRecord applies the bad-input policy; undecodable says the record's
// key or value did not decode (else a processor failed on it).
func (t *Task) badRecord(src *node, r Record, cause error, undecodable bool) error {
	p := src.policy
	if p == PolicyUnset {
		p = t.cfg.policy
	}
	switch p {
	case Skip:
		t.stats.Skipped++
		t.cfg.log.Debug("skipped bad record", slog.String("topic", r.Topic),
			slog.Int("partition", int(r.Partition)), slog.Int64("offset", r.Offset), slog.Any("error", cause))
		return nil
	case DeadLetter:
		t.stats.DeadLettered++
		if undecodable {
			t.stats.DeadLetteredUndecodable++
		}
		h := append(append([]Header(nil), r.Headers...),
			codec.DeadLetterHeaders(cause, r.Topic, r.Partition, r.Offset, r.Timestamp)...)
		t.outputs = append(t.outputs, Output{Topic: t.topo.DeadLetterTopic(), Partition: -1,
			Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: h})
		return nil
	default:
		return fmt.Errorf("%w: topic %s partition %d offset %d: %w", ErrRecordFailed, r.Topic, r.Partition, r.Offset, cause)
	}
}

// emit records an output of a sink.
func (t *Task) emit(topic string, key, value []byte, m msg, partitioner func([]byte, int32) int32) error {
	part := int32(-1)
	if partitioner != nil {
		n := t.cfg.partitions[topic]
		if n <= 0 {
			return fmt.Errorf("%w: %q", ErrPartitionCount, topic)
		}
		part = partitioner(key, n)
		if part < 0 || part >= n {
			return userErr("partitioner of "+topic, fmt.Errorf("partition %d out of [0, %d)", part, n))
		}
	}
	t.stats.RecordsOut++
	t.outputs = append(t.outputs, Output{Topic: topic, Partition: part, Key: key, Value: value,
		Timestamp: m.ts, Headers: m.headers})
	return nil
}

// Punctuate fires the wall-clock schedules due at wallNow. The first call
// only starts the wall clock.
func (t *Task) Punctuate(wallNow time.Time) error {
	if t.failed != nil {
		return fmt.Errorf("%w: %w", ErrTaskFailed, t.failed)
	}
	t.wallTime, t.seenWall = wallNow, true
	if err := t.punctuate(WallClock, wallNow); err != nil {
		t.failed = interrupted(err)
		return t.failed
	}
	return nil
}

func (t *Task) schedule(nc *nodeCtx, interval time.Duration, typ PunctuationType, fn func(time.Time) error) func() {
	s := &schedule{nc: nc, interval: interval, typ: typ, fn: fn}
	t.schedules = append(t.schedules, s)
	return func() { s.stopped = true }
}

// punctuate fires the schedules of clock typ that are due at now.
func (t *Task) punctuate(typ PunctuationType, now time.Time) error {
	if typ == StreamTime && !t.seenTime || typ == WallClock && !t.seenWall {
		return nil
	}
	live := t.schedules[:0]
	for _, s := range t.schedules {
		if !s.stopped {
			live = append(live, s)
		}
	}
	t.schedules = live
	// Schedules added while firing wait for the next call.
	n := len(t.schedules)
	for i := 0; i < n; i++ {
		s := t.schedules[i]
		if s.typ != typ || s.stopped {
			continue
		}
		if !s.armed {
			s.armed = true
			if typ == StreamTime {
				// As Kafka Streams: the first record processed (or
				// the first after scheduling) fires it.
				s.next = now
			} else {
				s.next = now.Add(s.interval)
			}
		}
		if now.Before(s.next) {
			continue
		}
		if typ == StreamTime {
			s.next = nextBoundary(now, s.interval)
		} else {
			s.next = s.next.Add(s.interval * (now.Sub(s.next)/s.interval + 1))
		}
		t.curTime = now
		if err := s.fn(now); err != nil {
			return fmt.Errorf("%w: %s punctuation of %q at %s: %w", ErrPunctuation, typ, s.nc.n.name,
				now.UTC().Format(time.RFC3339Nano), err)
		}
	}
	return nil
}

// interrupted marks an outage met outside Process with ErrInterrupted.
func interrupted(err error) error {
	if errors.Is(err, codec.ErrRegistryUnavailable) {
		return fmt.Errorf("%w: %w", ErrInterrupted, err)
	}
	return err
}

type commitHook struct {
	nc *nodeCtx
	fn func() error
}

// Commit runs the hooks processors registered with Context.OnCommit, in
// registration order, so that results buffered until a commit (the latest
// value per changed key, say) are forwarded now. The runtime calls it just
// before TakeOutputs when it commits, so those outputs join that commit.
// Outputs forwarded by a hook carry the stream time unless the hook gives
// another. An error stops the task.
func (t *Task) Commit() error {
	if t.failed != nil {
		return fmt.Errorf("%w: %w", ErrTaskFailed, t.failed)
	}
	t.curTime, t.curHeaders = t.streamTime, nil
	for _, h := range t.commitHooks {
		if err := h.fn(); err != nil {
			t.failed = interrupted(fmt.Errorf("%w: %q: %w", ErrCommitHook, h.nc.n.name, err))
			return t.failed
		}
	}
	return nil
}

// TakeOutputs returns what was produced since the last call, in order.
// The caller owns the slice.
func (t *Task) TakeOutputs() []Output {
	out := t.outputs
	t.outputs = nil
	return out
}

// Offsets is the next offset to consume per input partition, for the
// records processed so far (including skipped and dead-lettered ones).
func (t *Task) Offsets() map[TopicPartition]int64 {
	m := make(map[TopicPartition]int64, len(t.offsets))
	for k, v := range t.offsets {
		m[k] = v
	}
	return m
}

// StreamTime is the largest event time processed; zero before any.
func (t *Task) StreamTime() time.Time { return t.streamTime }

// Stats returns the task's counters.
func (t *Task) Stats() TaskStats { return t.stats }

// Close closes user processors that implement Close.
func (t *Task) Close() error {
	var errs []error
	for _, n := range t.sub.nodes {
		if c, ok := t.procs[n].(closer); ok {
			if err := c.close(); err != nil {
				errs = append(errs, fmt.Errorf("close %q: %w", n.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// countLate is for windowed operations: a record dropped as too late.
func (c *nodeCtx) countLate() { c.t.stats.Late++ }

// onStreamTime registers fn to run after every record, with the stream
// time (windowed operations close windows and emit finals here). Call it
// from a node's newProc. Outputs forwarded by fn carry the timestamps fn
// gives them (use msg.ts).
func (c *nodeCtx) onStreamTime(fn func(streamTime time.Time) error) {
	c.t.timeHooks = append(c.t.timeHooks, fn)
}

// streamTime is the task's stream time and whether any record was seen.
func (c *nodeCtx) streamTime() (time.Time, bool) { return c.t.streamTime, c.t.seenTime }

// nextBoundary is the first multiple of iv since the Unix epoch after t.
func nextBoundary(t time.Time, iv time.Duration) time.Time {
	ns := t.UnixNano()
	b := ns - ns%int64(iv)
	if ns%int64(iv) < 0 {
		b -= int64(iv)
	}
	return time.Unix(0, b+int64(iv)).UTC()
}
