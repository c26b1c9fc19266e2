package topology

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/state"
)

// ErasuresOf reads topic as erasure requests (GDPR article 17, CCPA), one
// per record, for the record's key. The topic must be co-partitioned with
// the inputs whose state it erases, and its stream must join them (merge
// it into their stream, as any other input), so that its records reach
// the same tasks, ordered and exactly once with everything else.
//
// A request first flows downstream like any record, so the application
// can act on it (write a tombstone to its outputs with ToTombstones,
// record an audit entry, forget what it caches in memory). Then the task
// deletes the key from every store of its sub-topology: key-value stores
// (tables, aggregates, processor stores whose keys are the record keys)
// and every window and session entry of it (windowed aggregates, join
// buffers). Each deletion writes a tombstone to the store's changelog in
// the same transaction. From then on, the sub-topology ignores records
// of that key whose event time is not after the request's. A request
// does not move stream time: it is not an event, and one made today
// must not close the windows of a replay of last month.
//
// Keys are found as stores hold them: ks encodes the key with each
// store's changelog as the serde topic, as KVStore does. Processor stores
// keyed otherwise (a timer index) are the processor's to clean up when the
// request reaches it. Data re-keyed into another sub-topology is not the
// key's any more and is not touched.
//
// The erased keys and their times are kept in a store named after the
// topic (or WithStoreName), with its own changelog: the one trace of the
// key left, needed to ignore its older records after a restart.
func ErasuresOf[K, V any](b *Builder, topic string, ks codec.Serde[K], vs codec.Serde[V], opts ...SourceOpt) Stream[K, V] {
	store := sourceConfig(opts, topic).store
	n := source(b, "source-"+topic, topic, "erasure-source", ks, vs, false, opts)
	ka, _ := ks.(codec.Appender[K])
	n.erasure = &erasure{
		store: store,
		key: func(ctx context.Context, k any, topic string, buf *[]byte) ([]byte, bool, error) {
			kk, ok := k.(K)
			if !ok {
				return nil, false, nil
			}
			var kb []byte
			var err error
			if buf != nil && ka != nil {
				kb, err = encodeInto(buf, ks, ka, topic, kk)
			} else {
				kb, err = codec.EncodeContext(ctx, ks, topic, kk)
			}
			return kb, err == nil, err
		},
	}
	b.declareStore(store, n).erasedKeys = true
	return Stream[K, V]{b: b, n: n}
}

// ErasedAt reports whether key, as the sub-topology's stores hold it, was
// erased (ErasuresOf), and the time of its latest request. A processor
// that starts a key's state afresh can tell it follows an erasure (to
// keep its versions growing, say).
func (c *Context[K, V]) ErasedAt(key []byte) (time.Time, bool) {
	at, ok := c.nc.t.erased[string(key)]
	if !ok {
		return time.Time{}, false
	}
	return time.UnixMilli(at).UTC(), true
}

// erasure is what an erasure source's node knows.
type erasure struct {
	store string // the erased keys: key -> erasure time (8 bytes, unix ms)
	// key encodes a decoded key for the store whose changelog is topic;
	// false if k is not of the source's key type. With buf, into it when
	// the serde appends (a lookup, which keeps no key); a key a store
	// keeps is encoded with buf nil.
	key func(ctx context.Context, k any, topic string, buf *[]byte) ([]byte, bool, error)
}

// loadErasures reads the erased keys of the task's sub-topology, so a
// record can be checked against them without a store lookup.
func (t *Task) loadErasures() error {
	e := t.sub.erasure.erasure
	it := t.stores[e.store].Range(nil, nil)
	for it.Next() {
		if len(it.Value()) != 8 {
			it.Close()
			return fmt.Errorf("%w: erasure store %q: value %q of key %q", ErrStore, e.store, it.Value(), it.Key())
		}
		if t.erased == nil {
			t.erased = map[string]int64{}
		}
		t.erased[string(it.Key())] = int64(binary.BigEndian.Uint64(it.Value()))
	}
	err := it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return err
}

// erasedBefore reports whether k was erased at or after ts: its record
// is then ignored.
func (t *Task) erasedBefore(k any, ts time.Time) (bool, error) {
	e := t.sub.erasure.erasure
	kb, ok, err := e.key(t.context(), k, t.topo.stores[e.store].changelog, &t.erasedBuf)
	if err != nil || !ok {
		return false, err
	}
	at, ok := t.erased[string(kb)]
	return ok && ts.UnixMilli() <= at, nil
}

// erase deletes k from every store of the sub-topology and records the
// erasure at ts.
func (t *Task) erase(k any, ts time.Time) error {
	e := t.sub.erasure.erasure
	ctx := t.context()
	for _, name := range t.sub.storeNames {
		def := t.topo.stores[name]
		if name == e.store || def.expiryOf != "" {
			continue // an expiry index: its store's delete (ttlStore) clears it
		}
		kb, ok, err := e.key(ctx, k, def.changelog, nil)
		if err != nil {
			return fmt.Errorf("erase from store %q: encode key: %w", name, err)
		}
		if !ok {
			continue
		}
		kv := t.stores[name]
		switch def.kind {
		case KindWindow, KindSession:
			_, err = state.DeleteKey(kv, kb)
		default:
			err = kv.Delete(kb)
		}
		if err != nil {
			return storeErr(name, err)
		}
	}
	kb, ok, err := e.key(ctx, k, t.topo.stores[e.store].changelog, nil)
	if err != nil {
		return fmt.Errorf("erasure store %q: encode key: %w", e.store, err)
	}
	if !ok {
		return fmt.Errorf("%w: erasure store %q: key %T is not the erasure source's key type", ErrStore, e.store, k)
	}
	at := ts.UnixMilli()
	if prev, ok := t.erased[string(kb)]; ok && prev > at {
		at = prev
	}
	if err := t.stores[e.store].Put(kb, binary.BigEndian.AppendUint64(nil, uint64(at))); err != nil {
		return storeErr(e.store, err)
	}
	if t.erased == nil {
		t.erased = map[string]int64{}
	}
	t.erased[string(kb)] = at
	t.stats.Erasures++
	return nil
}
