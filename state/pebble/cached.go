package pebble

import (
	"sync"
	"sync/atomic"

	"github.com/weirstream/weir/state"
)

// cacheMax bounds the keys a cached view remembers; past it, it starts
// afresh.
const cacheMax = 1 << 16

// CachedStore returns a view of one store of one task, like Store, that
// remembers what its Gets found (values and misses) until the task's
// state is next written through the DB (Commit, ApplyRestore, DropTask or
// a view's write). It is for a global table: read on almost every record,
// written rarely, by another goroutine. A Get that races with a write may
// still answer the value from just before it, as an uncached read that
// came first would. A view is for one goroutine.
func (d *DB) CachedStore(task, store string) state.KeyValueStore {
	s := d.Store(task, store).(*Store)
	return &cachedStore{Store: s, gen: d.generation(task), m: map[string]cached{}}
}

type cached struct {
	v  []byte
	ok bool
}

type cachedStore struct {
	*Store
	gen  *atomic.Uint64 // the task's write generation
	seen uint64         // the generation m is valid for
	m    map[string]cached
}

// Get returns the value of key; the slice is valid until the next call on
// the view.
func (c *cachedStore) Get(key []byte) ([]byte, bool, error) {
	if g := c.gen.Load(); g != c.seen || len(c.m) >= cacheMax {
		clear(c.m)
		c.seen = g
	}
	if e, hit := c.m[string(key)]; hit {
		return e.v, e.ok, nil
	}
	v, ok, err := c.Store.Get(key)
	if err != nil {
		return nil, false, err
	}
	e := cached{ok: ok}
	if ok {
		e.v = append([]byte(nil), v...)
	}
	c.m[string(key)] = e
	return e.v, ok, nil
}

// generations counts writes per task, so cached views know when to
// forget. A generation moves only after its write is in Pebble.
type generations struct {
	mu sync.Mutex
	m  map[string]*atomic.Uint64
}

func (d *DB) generation(task string) *atomic.Uint64 {
	d.gens.mu.Lock()
	defer d.gens.mu.Unlock()
	if d.gens.m == nil {
		d.gens.m = map[string]*atomic.Uint64{}
	}
	g := d.gens.m[task]
	if g == nil {
		g = new(atomic.Uint64)
		d.gens.m[task] = g
	}
	return g
}

// wrote moves the task's generation on, after a write to its state.
func (d *DB) wrote(task string) {
	d.gens.mu.Lock()
	g := d.gens.m[task]
	d.gens.mu.Unlock()
	if g != nil {
		g.Add(1)
	}
}
