package topology

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/state"
)

// Header is a Kafka record header.
type Header = codec.Header

type nodeKind int

const (
	kindSource nodeKind = iota
	kindProcessor
	kindSink
)

// node is one vertex of the graph. Values flow between nodes as msg with
// untyped key and value; the typed DSL guarantees each node receives the
// types it asserts. See INTERNALS.md.
type node struct {
	id       int
	name     string
	op       string // what Describe prints: "filter", "aggregate", ...
	kind     nodeKind
	parents  []*node
	children []*node
	stores   []string // stores this node reads or writes
	sub      int

	// Sources.
	topic    string
	internal bool // repartition source or sink
	policy   BadInputPolicy
	decode   func(ctx context.Context, r *Record) (key, value any, err error)
	extract  func(key, value any, ts time.Time) time.Time
	erasure  *erasure // erasure sources (ErasuresOf)
	// Sinks.
	customPartitioner bool

	// newProc makes the node's per-task processor.
	newProc func(*nodeCtx) (proc, error)
}

// msg is what flows along an edge.
type msg struct {
	key, value any
	ts         time.Time
	headers    []Header
}

// tombstone is the value a table source forwards for a record with a nil
// value.
type tombstone struct{}

type proc interface {
	process(m msg) error
}

type procFunc func(m msg) error

func (f procFunc) process(m msg) error { return f(m) }

// closer is implemented by procs holding user processors.
type closer interface{ close() error }

// nodeCtx is a node's view of its task.
type nodeCtx struct {
	t        *Task
	n        *node
	children []proc
}

func (c *nodeCtx) forward(m msg) error {
	for _, ch := range c.children {
		if err := ch.process(m); err != nil {
			return err
		}
	}
	return nil
}

func (c *nodeCtx) forwardTo(i int, m msg) error { return c.children[i].process(m) }

// store returns a store this node declared.
func (c *nodeCtx) store(name string) (state.KeyValueStore, string, error) {
	if !containsString(c.n.stores, name) {
		return nil, "", fmt.Errorf("%w: %q not connected to %q", ErrUnknownStore, name, c.n.name)
	}
	kv := c.t.stores[name]
	if kv == nil {
		return nil, "", fmt.Errorf("%w: %q", ErrUnknownStore, name)
	}
	return kv, c.t.topo.stores[name].changelog, nil
}

// recordError marks an error caused by the record being processed (a user
// function or serde failed): the source's BadInputPolicy applies. Any other
// error (a store failing) stops the task.
type recordError struct {
	where string
	err   error
}

func (e *recordError) Error() string { return e.where + ": " + e.err.Error() }
func (e *recordError) Unwrap() error { return e.err }

func userErr(where string, err error) error { return &recordError{where: where, err: err} }

func isRecordError(err error) bool {
	var re *recordError
	return errors.As(err, &re)
}

// as converts an untyped key or value back; nil gives the zero value, so
// interface-typed K and V work.
func as[T any](x any) T {
	v, _ := x.(T)
	return v
}

// StoreKind is the layout of a store.
type StoreKind string

// Store kinds. Window and session kinds are layered over key-value stores
// by package state.
const (
	KindKeyValue StoreKind = "key-value"
	KindWindow   StoreKind = "window"
	KindSession  StoreKind = "session"
)

type storeDef struct {
	name       string
	kind       StoreKind
	changelog  string // empty for global stores
	global     bool
	topic      string // global stores: the topic that fills them
	users      []*node
	ttl        time.Duration // key-value stores with a TTL (ttl.go)
	expiry     string        // with a TTL: the companion store of the expiry index
	expiryOf   string        // a companion store: the store it indexes
	erasedKeys bool          // the store of an ErasuresOf
}

// Change is an update of a table: the value before and after. Nil means
// absent: Old is nil for an insert, New is nil for a delete.
type Change[V any] struct {
	Old, New *V
}

// KeyValue is a key and a value, as FlatMap returns them.
type KeyValue[K, V any] struct {
	Key   K
	Value V
}

// KVStore is a typed view of a byte store. Keys and values go through the
// serdes with the store's changelog topic as the serde topic, so schema
// registry subjects follow the changelog. It is not safe for concurrent
// use (a task's stores are used by one goroutine at a time).
type KVStore[K, V any] struct {
	kv    state.KeyValueStore
	topic string
	ks    codec.Serde[K]
	vs    codec.Serde[V]
	// With a key serde that appends, Get encodes keys into keyBuf: a
	// lookup keeps no key, and a join looks up a key per record.
	ka     codec.Appender[K]
	keyBuf []byte
}

// encodeInto encodes k into *buf when ka (ks as a codec.Appender, or nil)
// can append, else with ks.Encode: for keys only used until the next call.
func encodeInto[K any](buf *[]byte, ks codec.Serde[K], ka codec.Appender[K], topic string, k K) ([]byte, error) {
	if ka == nil {
		return ks.Encode(topic, k)
	}
	b, err := ka.AppendEncode((*buf)[:0], topic, k)
	*buf = b
	return b, err
}

// WrapKV makes a typed view of kv. serdeTopic is passed to the serdes
// (the store's changelog topic; see Topology.Stores).
func WrapKV[K, V any](kv state.KeyValueStore, serdeTopic string, ks codec.Serde[K], vs codec.Serde[V]) *KVStore[K, V] {
	ka, _ := ks.(codec.Appender[K])
	return &KVStore[K, V]{kv: kv, topic: serdeTopic, ks: ks, vs: vs, ka: ka}
}

// Get returns the value of k and whether it exists.
func (s *KVStore[K, V]) Get(k K) (V, bool, error) {
	var zero V
	kb, err := encodeInto(&s.keyBuf, s.ks, s.ka, s.topic, k)
	if err != nil {
		return zero, false, userErr("store "+s.topic+" key", err)
	}
	vb, ok, err := s.kv.Get(kb)
	if err != nil {
		return zero, false, fmt.Errorf("%w: %s: %w", ErrStore, s.topic, err)
	}
	if !ok {
		return zero, false, nil
	}
	v, err := s.vs.Decode(s.topic, vb)
	if err != nil {
		return zero, false, fmt.Errorf("%w: %s: decode value: %w", ErrStore, s.topic, err)
	}
	return v, true, nil
}

// Put sets k to v.
func (s *KVStore[K, V]) Put(k K, v V) error {
	kb, err := s.ks.Encode(s.topic, k)
	if err != nil {
		return userErr("store "+s.topic+" key", err)
	}
	vb, err := s.vs.Encode(s.topic, v)
	if err != nil {
		return userErr("store "+s.topic+" value", err)
	}
	if vb == nil {
		vb = []byte{}
	}
	return storeErr(s.topic, s.kv.Put(kb, vb))
}

// PutAt is Put with k counted as written at at, for a store with a TTL
// (topology.TTL): a writer that buffers writes (a write-back cache) stamps
// each with when it really happened, so expiry does not depend on when
// commits come. A time already past the TTL deletes k. Stores without a
// TTL ignore at.
func (s *KVStore[K, V]) PutAt(k K, v V, at time.Time) error {
	ts, ok := s.kv.(*ttlStore)
	if !ok {
		return s.Put(k, v)
	}
	kb, err := s.ks.Encode(s.topic, k)
	if err != nil {
		return userErr("store "+s.topic+" key", err)
	}
	vb, err := s.vs.Encode(s.topic, v)
	if err != nil {
		return userErr("store "+s.topic+" value", err)
	}
	if vb == nil {
		vb = []byte{}
	}
	return storeErr(s.topic, ts.PutAt(kb, vb, at.UnixMilli()))
}

// ErrStore wraps failures of a store itself (not of a serde): they stop
// the task whatever the BadInputPolicy, even when a Processor returns them.
var ErrStore = errors.New("topology: store failed")

func storeErr(topic string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %s: %w", ErrStore, topic, err)
}

// Delete removes k.
func (s *KVStore[K, V]) Delete(k K) error {
	kb, err := s.ks.Encode(s.topic, k)
	if err != nil {
		return userErr("store "+s.topic+" key", err)
	}
	return storeErr(s.topic, s.kv.Delete(kb))
}

// All calls fn for every entry in encoded-key order until fn returns
// false or an error. fn must not write to the store.
func (s *KVStore[K, V]) All(fn func(k K, v V) (bool, error)) error {
	it := s.kv.Range(nil, nil)
	for it.Next() {
		k, err := s.ks.Decode(s.topic, it.Key())
		if err != nil {
			it.Close()
			return fmt.Errorf("%w: %s: decode key: %w", ErrStore, s.topic, err)
		}
		v, err := s.vs.Decode(s.topic, it.Value())
		if err != nil {
			it.Close()
			return fmt.Errorf("%w: %s: decode value: %w", ErrStore, s.topic, err)
		}
		more, err := fn(k, v)
		if err != nil || !more {
			it.Close()
			return err
		}
	}
	if err := it.Err(); err != nil {
		it.Close()
		return storeErr(s.topic, err)
	}
	return storeErr(s.topic, it.Close())
}

// markedStore wraps every error of kv with ErrStore, so a Processor that
// returns one stops the task instead of dead-lettering the record.
type markedStore struct {
	kv   state.KeyValueStore
	name string
}

func (m markedStore) Get(k []byte) ([]byte, bool, error) {
	v, ok, err := m.kv.Get(k)
	return v, ok, storeErr(m.name, err)
}
func (m markedStore) Put(k, v []byte) error         { return storeErr(m.name, m.kv.Put(k, v)) }
func (m markedStore) Delete(k []byte) error         { return storeErr(m.name, m.kv.Delete(k)) }
func (m markedStore) DeleteRange(s, e []byte) error { return storeErr(m.name, m.kv.DeleteRange(s, e)) }
func (m markedStore) Range(s, e []byte) state.Iterator {
	return markedIter{it: m.kv.Range(s, e), name: m.name}
}

type markedIter struct {
	it   state.Iterator
	name string
}

func (i markedIter) Next() bool    { return i.it.Next() }
func (i markedIter) Key() []byte   { return i.it.Key() }
func (i markedIter) Value() []byte { return i.it.Value() }
func (i markedIter) Err() error    { return storeErr(i.name, i.it.Err()) }
func (i markedIter) Close() error  { return storeErr(i.name, i.it.Close()) }
