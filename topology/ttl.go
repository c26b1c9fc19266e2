package topology

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/weirstream/weir/state"
)

// StoreOpt configures a store declared with KeyValueStore.
type StoreOpt interface{ applyStore(*storeCfg) }

type storeCfg struct {
	ttl    time.Duration
	ttlSet bool
}

type storeOptFunc func(*storeCfg)

func (f storeOptFunc) applyStore(c *storeCfg) { f(c) }

// TTL makes the store forget a key d of stream time after its last write:
// once the task's stream time reaches last write + d, reads no longer see
// the key and it is deleted, with a changelog tombstone in the same commit
// as everything else. Only writes (Put, PutAt) refresh a key; reads do not
// (Flink's OnCreateAndWrite). A write is stamped with the task's stream
// time (KVStore.PutAt gives another). Times are whole milliseconds; d
// must be at least 1ms (checked by Build). Default: keys never expire.
//
// The expiry index lives in a companion store <name>-ttl (with its own
// changelog, so a restore brings back exactly the live keys). Keys written
// before TTL was turned on have no index entry and never expire until
// written again.
func TTL(d time.Duration) StoreOpt {
	return storeOptFunc(func(c *storeCfg) { c.ttl, c.ttlSet = d, true })
}

// ttlSuffix names the companion store of a store with a TTL.
const ttlSuffix = "-ttl"

// declareStoreOpts applies opts to the store def declared for n by api.
func (b *Builder) declareStoreOpts(api string, def *storeDef, n *node, opts []StoreOpt) {
	var cfg storeCfg
	for _, o := range opts {
		if o != nil {
			o.applyStore(&cfg)
		}
	}
	if !cfg.ttlSet || b == nil || def.name == "" {
		return
	}
	if cfg.ttl < time.Millisecond {
		b.opErr(api, ErrBadOption, fmt.Sprintf("TTL of store %q is %s; it must be at least 1ms", def.name, cfg.ttl))
		return
	}
	def.ttl = cfg.ttl
	def.expiry = def.name + ttlSuffix
	b.declareStore(def.expiry, n).expiryOf = def.name
}

// ttlSweepBatch bounds the keys one sweep deletes, so a jump of stream
// time over many expiries does not stall one record; the rest go with the
// next records, and reads check expiry until they have.
const ttlSweepBatch = 1000

// Layout of the companion store (ms times sign-flipped big-endian, so
// they sort as bytes):
//
//	'k' | key           -> last write
//	't' | last write | key -> empty   (time order: what the sweep reads)
const (
	ttlTagKey  byte = 'k'
	ttlTagTime byte = 't'
)

// ttlStore is the task's view of a store with a TTL: writes keep its
// expiry index in idx, and the task sweeps it when stream time moves
// (Task.sweepTTL), before the record is processed.
type ttlStore struct {
	kv, idx state.KeyValueStore
	name    string
	ttl     int64 // ms
	t       *Task
	// Memory only; a new task core scans once to learn them. sweptTo:
	// every key written at or before it is gone. nextDue: no key expires
	// before this stream time. behind: the last sweep stopped at its
	// batch, so reads must check expiry themselves.
	sweptTo int64
	nextDue int64
	known   bool
	behind  bool
	getBuf  []byte
	// onExpire, if set, gets each expired key and its last value, after
	// the delete: aggregates forward it downstream as a delete.
	onExpire func(key, value []byte) error
}

func encMs(b []byte, ms int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(ms)^(1<<63)) }
func decMs(b []byte) int64            { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

func ttlTimeKey(at int64, key []byte) []byte {
	return append(encMs(append(make([]byte, 0, 9+len(key)), ttlTagTime), at), key...)
}

func ttlKeyKey(key []byte) []byte {
	return append(append(make([]byte, 0, 1+len(key)), ttlTagKey), key...)
}

// now is the time a write is stamped with: the stream time (the epoch
// before the task's first record).
func (s *ttlStore) now() int64 {
	if !s.t.seenTime {
		return 0
	}
	return s.t.streamTime.UnixMilli()
}

// expired reports whether a key last written at is past its TTL.
func (s *ttlStore) expired(at int64) bool {
	return s.t.seenTime && s.t.streamTime.UnixMilli()-at >= s.ttl
}

// writtenAt returns when key was last written, if it has an index entry.
func (s *ttlStore) writtenAt(key []byte) (int64, bool, error) {
	s.getBuf = append(append(s.getBuf[:0], ttlTagKey), key...)
	v, ok, err := s.idx.Get(s.getBuf)
	if err != nil || !ok {
		return 0, false, err
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("%w: expiry index of %q: entry %q", state.ErrCorrupt, s.name, v)
	}
	return decMs(v), true, nil
}

// live reports whether key, if present, is not expired.
func (s *ttlStore) live(key []byte) (bool, error) {
	at, ok, err := s.writtenAt(key)
	return err == nil && !(ok && s.expired(at)), err
}

func (s *ttlStore) Get(key []byte) ([]byte, bool, error) {
	if s.behind {
		if ok, err := s.live(key); err != nil || !ok {
			return nil, false, err
		}
	}
	return s.kv.Get(key)
}

func (s *ttlStore) Put(key, value []byte) error { return s.PutAt(key, value, s.now()) }

// PutAt is Put with the key counted as written at (Unix ms): a write at a
// time already past the TTL deletes the key. A key's write time never goes
// back.
func (s *ttlStore) PutAt(key, value []byte, at int64) error {
	old, ok, err := s.writtenAt(key)
	if err != nil {
		return err
	}
	if ok && old > at {
		at = old
	}
	if s.expired(at) {
		return s.Delete(key)
	}
	if !ok || old != at {
		if ok {
			if err := s.idx.Delete(ttlTimeKey(old, key)); err != nil {
				return err
			}
		}
		if err := s.idx.Put(ttlTimeKey(at, key), []byte{}); err != nil {
			return err
		}
		if err := s.idx.Put(ttlKeyKey(key), encMs(make([]byte, 0, 8), at)); err != nil {
			return err
		}
		if s.known {
			s.nextDue = min(s.nextDue, at+s.ttl)
		}
	}
	return s.kv.Put(key, value)
}

func (s *ttlStore) Delete(key []byte) error {
	at, ok, err := s.writtenAt(key)
	if err != nil {
		return err
	}
	if ok {
		if err := s.idx.Delete(ttlTimeKey(at, key)); err != nil {
			return err
		}
		if err := s.idx.Delete(ttlKeyKey(key)); err != nil {
			return err
		}
	}
	return s.kv.Delete(key)
}

func (s *ttlStore) DeleteRange(start, end []byte) error {
	lo, hi := ttlKeyKey(start), []byte{ttlTagKey + 1}
	if end != nil {
		hi = ttlKeyKey(end)
	}
	var times [][]byte
	it := s.idx.Range(lo, hi)
	for it.Next() {
		k, v := it.Key(), it.Value()
		if len(v) != 8 {
			it.Close()
			return fmt.Errorf("%w: expiry index of %q: entry %q", state.ErrCorrupt, s.name, v)
		}
		times = append(times, ttlTimeKey(decMs(v), k[1:]))
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, tk := range times {
		if err := s.idx.Delete(tk); err != nil {
			return err
		}
	}
	if err := s.idx.DeleteRange(lo, hi); err != nil {
		return err
	}
	return s.kv.DeleteRange(start, end)
}

func (s *ttlStore) Range(start, end []byte) state.Iterator {
	if !s.behind {
		return s.kv.Range(start, end)
	}
	return &ttlIter{Iterator: s.kv.Range(start, end), s: s}
}

// ttlIter hides expired keys not yet swept.
type ttlIter struct {
	state.Iterator
	s   *ttlStore
	err error
}

func (i *ttlIter) Next() bool {
	for i.err == nil && i.Iterator.Next() {
		ok, err := i.s.live(i.Key())
		if err != nil {
			i.err = err
			return false
		}
		if ok {
			return true
		}
	}
	return false
}

func (i *ttlIter) Err() error {
	if i.err != nil {
		return i.err
	}
	return i.Iterator.Err()
}

func (i *ttlIter) Close() error {
	err := i.Iterator.Close()
	if i.err != nil {
		return i.err
	}
	return err
}

// sweep deletes up to ttlSweepBatch keys expired at stream time st, oldest
// first, from the store and its index.
func (s *ttlStore) sweep(st int64) error {
	if s.known && st < s.nextDue {
		return nil
	}
	cutoff := st - s.ttl // keys written at or before it expire
	start := []byte{ttlTagTime}
	if s.known {
		if cutoff <= s.sweptTo {
			return nil
		}
		start = encMs(start, s.sweptTo+1)
	}
	var due [][]byte
	next, more := int64(math.MaxInt64), false
	it := s.idx.Range(start, []byte{ttlTagTime + 1})
	for it.Next() {
		k := it.Key()
		if len(k) < 9 {
			it.Close()
			return fmt.Errorf("%w: expiry index of %q: key %q", state.ErrCorrupt, s.name, k)
		}
		if at := decMs(k[1:9]); at > cutoff {
			next = at + s.ttl
			break
		}
		if len(due) == ttlSweepBatch {
			more = true
			break
		}
		due = append(due, append([]byte(nil), k...))
	}
	if err := it.Close(); err != nil {
		return err
	}
	if len(due) > 0 {
		s.behind = true // callbacks may read keys not deleted yet
	}
	for _, tk := range due {
		key := tk[9:]
		var old []byte
		if s.onExpire != nil {
			v, ok, err := s.kv.Get(key)
			if err != nil {
				return err
			}
			if ok {
				old = append([]byte{}, v...)
			}
		}
		if err := s.kv.Delete(key); err != nil {
			return err
		}
		if err := s.idx.Delete(ttlKeyKey(key)); err != nil {
			return err
		}
		if err := s.idx.Delete(tk); err != nil {
			return err
		}
		if old != nil {
			if err := s.onExpire(key, old); err != nil {
				return err
			}
		}
	}
	s.known, s.behind = true, more
	if more {
		s.sweptTo, s.nextDue = decMs(due[len(due)-1][1:9])-1, math.MinInt64
	} else {
		s.sweptTo, s.nextDue = cutoff, next
	}
	return nil
}

// openTTL wraps the task's stores that have a TTL.
func (t *Task) openTTL() {
	for _, name := range t.sub.storeNames {
		def := t.topo.stores[name]
		if def.ttl <= 0 {
			continue
		}
		s := &ttlStore{kv: t.stores[name], idx: t.stores[def.expiry], name: name, ttl: def.ttl.Milliseconds(), t: t}
		t.stores[name] = s
		t.ttls = append(t.ttls, s)
	}
}

// OnExpire registers fn for the keys store, one of this processor's
// stores and one with a TTL, expires. fn gets each key after its delete,
// while the task sweeps (before the record that moved stream time is
// processed), and may forward: a tombstone downstream, say. Call it from
// Init.
func (c *Context[K, V]) OnExpire(store string, fn func(key []byte) error) error {
	if fn == nil {
		return fmt.Errorf("%w: expiry hook of %q is nil", ErrNilFunc, c.nc.n.name)
	}
	if !containsString(c.nc.n.stores, store) {
		return fmt.Errorf("%w: %q is not a store of %q", ErrUnknownStore, store, c.nc.n.name)
	}
	if _, ok := c.nc.t.stores[store].(*ttlStore); !ok {
		return fmt.Errorf("%w: OnExpire: store %q has no TTL", ErrBadOption, store)
	}
	c.nc.onExpire(store, func(key, _ []byte) error { return fn(key) })
	return nil
}

// onExpire registers fn for the keys store expires, if it has a TTL.
func (c *nodeCtx) onExpire(store string, fn func(key, value []byte) error) {
	if s, ok := c.t.stores[store].(*ttlStore); ok {
		s.onExpire = fn
	}
}

// sweepTTL expires keys past their TTL at the current stream time.
func (t *Task) sweepTTL() error {
	st := t.streamTime.UnixMilli()
	t.curTime, t.curHeaders = t.streamTime, nil
	for _, s := range t.ttls {
		if err := s.sweep(st); err != nil {
			return fmt.Errorf("%w: %s: expire: %w", ErrStore, s.name, err)
		}
	}
	return nil
}
