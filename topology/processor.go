package topology

import (
	"errors"
	"fmt"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/state"
)

// Processor is a user-written node: the escape hatch for what the DSL
// cannot say. One instance is made per task by the factory given to
// Process, so fields are per-task state; the task calls it from a single
// goroutine. A Processor may also implement Close() error, called by
// Task.Close.
type Processor[KIn, VIn, KOut, VOut any] interface {
	// Init is called once per task before any record. Look up stores and
	// schedule punctuations here.
	Init(ctx *Context[KOut, VOut]) error
	// Process handles one record. An error is handled by the source's
	// BadInputPolicy, like a decode error.
	Process(ctx *Context[KOut, VOut], key KIn, value VIn) error
}

// ProcessorFunc is a stateless Processor with nothing to initialise.
type ProcessorFunc[KIn, VIn, KOut, VOut any] func(ctx *Context[KOut, VOut], key KIn, value VIn) error

// Init does nothing.
func (ProcessorFunc[KIn, VIn, KOut, VOut]) Init(*Context[KOut, VOut]) error { return nil }

// Process calls f.
func (f ProcessorFunc[KIn, VIn, KOut, VOut]) Process(ctx *Context[KOut, VOut], k KIn, v VIn) error {
	return f(ctx, k, v)
}

// StoreSpec names a store a processor uses.
type StoreSpec struct {
	name    string
	declare bool
	opts    []StoreOpt
}

// KeyValueStore declares a new key-value store named name, with changelog
// <app>-<name>-changelog. Options: TTL.
func KeyValueStore(name string, opts ...StoreOpt) StoreSpec {
	return StoreSpec{name: name, declare: true, opts: opts}
}

// ExistingStore connects a processor to a store declared elsewhere (by
// another processor, a table or an aggregate). Processors sharing a store
// run in the same sub-topology.
func ExistingStore(name string) StoreSpec { return StoreSpec{name: name} }

// Process adds a user processor named name. The output stream counts as
// re-keyed: a stateful operation downstream repartitions.
func Process[KIn, VIn, KOut, VOut any](s Stream[KIn, VIn], name string, factory func() Processor[KIn, VIn, KOut, VOut], stores ...StoreSpec) Stream[KOut, VOut] {
	s.b.checkFunc(factory != nil, name)
	n := s.b.add(name, "processor", kindProcessor, []*node{s.n}, func(nc *nodeCtx) (proc, error) {
		p := factory()
		if p == nil {
			return nil, fmt.Errorf("%w: factory of %q returned nil", ErrNilFunc, name)
		}
		ctx := &Context[KOut, VOut]{nc: nc}
		if err := p.Init(ctx); err != nil {
			return nil, fmt.Errorf("init %q: %w", name, err)
		}
		return &userProc[KIn, VIn, KOut, VOut]{p: p, ctx: ctx, name: name}, nil
	})
	for _, sp := range stores {
		if sp.declare {
			s.b.declareStoreOpts("KeyValueStore", s.b.declareStore(sp.name, n), n, sp.opts)
		} else {
			s.b.useStore(n, sp.name)
		}
	}
	return Stream[KOut, VOut]{b: s.b, n: n, rekeyed: true}
}

type userProc[KIn, VIn, KOut, VOut any] struct {
	p    Processor[KIn, VIn, KOut, VOut]
	ctx  *Context[KOut, VOut]
	name string
}

func (u *userProc[KIn, VIn, KOut, VOut]) process(m msg) error {
	err := u.p.Process(u.ctx, as[KIn](m.key), as[VIn](m.value))
	if err == nil || isRecordError(err) || errors.Is(err, ErrStore) {
		return err
	}
	return userErr(u.name, err)
}

func (u *userProc[KIn, VIn, KOut, VOut]) close() error {
	if c, ok := u.p.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// PunctuationType says which clock drives a schedule.
type PunctuationType int

const (
	// StreamTime punctuations are driven by stream time (the largest
	// event time the task has seen), as in Kafka Streams: the first fires
	// after the first record processed once the schedule exists (so a
	// schedule set up in Init fires on the task's first record), then
	// each time stream time reaches the next multiple of the interval
	// since the Unix epoch. A jump over several multiples fires once,
	// with the stream time. Punctuations run after the record's
	// processing.
	StreamTime PunctuationType = iota
	// WallClock punctuations fire when the runtime's wall clock, given to
	// Task.Punctuate, reaches the next multiple of the interval after
	// the previous firing (or after the first Punctuate call).
	WallClock
)

func (p PunctuationType) String() string {
	if p == WallClock {
		return "wall-clock"
	}
	return "stream-time"
}

// RecordMeta describes the input record being processed.
type RecordMeta struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time // event time (after any TimestampFrom)
	Headers   []Header
}

// Context is a processor's handle on its task. It is valid only inside
// Init, Process and punctuation functions of the processor it was given
// to.
type Context[K, V any] struct {
	nc *nodeCtx
}

// Forward sends a record downstream with the current timestamp and
// headers: the input record's in Process, the punctuation time (and no
// headers) in a punctuation.
func (c *Context[K, V]) Forward(k K, v V) error {
	t := c.nc.t
	return c.nc.forward(msg{key: k, value: v, ts: t.curTime, headers: t.curHeaders})
}

// ForwardAt is Forward with an explicit timestamp.
func (c *Context[K, V]) ForwardAt(k K, v V, ts time.Time) error {
	return c.nc.forward(msg{key: k, value: v, ts: ts, headers: c.nc.t.curHeaders})
}

// Schedule calls fn every interval of the given clock, with the time that
// triggered it, until cancel is called. Errors from fn stop the task.
func (c *Context[K, V]) Schedule(interval time.Duration, typ PunctuationType, fn func(now time.Time) error) (cancel func(), err error) {
	if interval <= 0 || fn == nil {
		return nil, fmt.Errorf("%w: schedule of %q needs a positive interval and a function", ErrBadOption, c.nc.n.name)
	}
	if typ != StreamTime && typ != WallClock {
		return nil, fmt.Errorf("%w: punctuation type %d", ErrBadOption, typ)
	}
	return c.nc.t.schedule(c.nc, interval, typ, fn), nil
}

// OnCommit registers fn to run each time the task commits (Task.Commit),
// before the runtime takes the task's outputs: forward results buffered
// since the last commit here. Hooks run in registration order; an error
// stops the task. Call it from Init.
func (c *Context[K, V]) OnCommit(fn func() error) error {
	if fn == nil {
		return fmt.Errorf("%w: commit hook of %q is nil", ErrNilFunc, c.nc.n.name)
	}
	c.nc.t.commitHooks = append(c.nc.t.commitHooks, commitHook{nc: c.nc, fn: fn})
	return nil
}

// StreamTime is the largest event time the task has seen; zero before the
// first record.
func (c *Context[K, V]) StreamTime() time.Time { return c.nc.t.StreamTime() }

// Record describes the input record being processed; ok is false in Init
// and punctuations.
func (c *Context[K, V]) Record() (meta RecordMeta, ok bool) {
	t := c.nc.t
	if !t.inRecord {
		return RecordMeta{}, false
	}
	r := t.cur
	return RecordMeta{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: t.curTime, Headers: r.Headers}, true
}

// TaskID is the task running this processor.
func (c *Context[K, V]) TaskID() TaskID { return c.nc.t.id }

// Store returns the byte-level store name, which must be declared for this
// processor (KeyValueStore or ExistingStore).
// Its errors wrap ErrStore.
func (c *Context[K, V]) Store(name string) (state.KeyValueStore, error) {
	kv, _, err := c.nc.store(name)
	if err != nil {
		return nil, err
	}
	return markedStore{kv: kv, name: name}, nil
}

func (c *Context[K, V]) kvStore(name string) (state.KeyValueStore, string, error) {
	return c.nc.store(name)
}

// StoreAccess is what KV needs; *Context implements it.
type StoreAccess interface {
	kvStore(name string) (state.KeyValueStore, string, error)
}

// KV returns a typed view of the store name declared for this processor.
func KV[K, V any](ctx StoreAccess, name string, ks codec.Serde[K], vs codec.Serde[V]) (*KVStore[K, V], error) {
	if ks == nil || vs == nil {
		return nil, fmt.Errorf("%w: store %q", ErrNilSerde, name)
	}
	kv, topic, err := ctx.kvStore(name)
	if err != nil {
		return nil, err
	}
	return WrapKV(kv, topic, ks, vs), nil
}
