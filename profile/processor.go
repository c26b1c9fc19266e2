package profile

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/topology"
)

// profiler keeps the profiles. Per task, in memory, it holds only what
// belongs to the record being processed (join signals, line items), the
// profiles it caches (below) and, in PerCommit mode, which customers
// changed since the last commit.
type profiler struct {
	keys     codec.Serde[string]
	emit     EmitMode
	cartIdle time.Duration // Config.CartIdle
	erased   *erasedFrom   // what an erasure's audit lists
	ttl      int64         // Config.InactiveTTL in ms; 0: none
	ctx      *topology.Context[string, output]
	profiles *topology.KVStore[string, stored]
	timers   state.KeyValueStore
	// firedTo: every timer with a deadline at or before it has fired, so
	// the next scan starts after it rather than at the first key, where
	// the deletions of fired timers pile up until a compaction. nextDue:
	// no timer is due before it (the first deadline the last scan saw
	// past its end, lowered by setTimer), so stream time below it scans
	// nothing. Memory only: a new task core (open, rewind) scans from the
	// start once.
	firedTo    int64
	nextDue    int64
	firedKnown bool

	// The record the buffered signals and items belong to.
	rec       topology.RecordMeta
	afterView map[string]bool
	itemCats  []string

	changed   []string
	isChanged map[string]bool

	// cache holds decoded profiles, and is a write-back cache, as Kafka
	// Streams' caching store: an event changes its customer's cached
	// profile only, and the commit hook encodes and writes each dirty one
	// once, into the store's pending overlay, before the runtime takes
	// the interval's changelog records. So the store holds every profile
	// as of the last commit (queries read committed state: exactly
	// that), and between commits it may lag the cache. It cannot go stale:
	// this processor is the only writer of StoreProfiles, and a rewind or
	// a task move replaces it (and drops its dirty profiles) together with
	// the uncommitted state it wrote.
	cache map[string]*cached
	// dirty lists the customers whose cached profile the store does not
	// have yet, in the order they first changed.
	dirty []string
	// maxCached bounds cache (Config.CachedProfiles): past it, the dirty
	// profiles are written back and the cache starts afresh.
	maxCached int
}

// cached is a decoded profile; dirty means the store does not have it yet.
type cached struct {
	s     stored
	dirty bool
	// inStore: the store holds a copy (this one or older), whose expiry
	// sends the tombstone. published: the output has this profile. One
	// published and not in the store that expires before it is written
	// back (stream time jumping past InactiveTTL within a commit interval,
	// as in a backfill) gets its tombstone from drop.
	inStore, published bool
}

// maxCachedProfiles is the default of Config.CachedProfiles.
const maxCachedProfiles = 20000

// get returns id's profile, from the cache or else decoded from the
// store (and cached); nil if it has none. Changes made through it must be
// marked with touch.
func (p *profiler) get(id string) (*cached, error) {
	if c, ok := p.cache[id]; ok {
		if p.expired(&c.s) {
			return nil, p.drop(id, c)
		}
		return c, nil
	}
	s, ok, err := p.profiles.Get(id)
	if err != nil || !ok || p.expired(&s) {
		return nil, err // expired: written before InactiveTTL was set
	}
	c, err := p.add(id, s)
	if c != nil {
		c.inStore, c.published = true, true
	}
	return c, err
}

// expired reports whether s is past InactiveTTL at the stream time: the
// rule of the store's TTL (written at UpdatedAt), applied to the cache too.
func (p *profiler) expired(s *stored) bool {
	return p.ttl > 0 && p.ctx.StreamTime().UnixMilli()-s.Profile.UpdatedAt.UnixMilli() >= p.ttl
}

// expire deletes, on the output, a profile InactiveTTL removed from the
// store; unless the customer is active in the cache (an event since the
// last write-back: the commit writes the profile back, newer).
func (p *profiler) expire(kb []byte) error {
	id, err := p.keys.Decode(StoreProfiles, kb)
	if err != nil {
		return fmt.Errorf("%w: profile key: %w", topology.ErrStore, err)
	}
	if c, ok := p.cache[id]; ok && !p.expired(&c.s) {
		c.inStore = false
		return nil
	}
	return p.tombstone(id)
}

// drop forgets c, id's cached profile, expired before it was written
// back; the store's copy, if any, is older and expires by itself.
func (p *profiler) drop(id string, c *cached) error {
	delete(p.cache, id)
	if c.published && !c.inStore {
		return p.tombstone(id)
	}
	return nil
}

// tombstone deletes id's profile on the output.
func (p *profiler) tombstone(id string) error {
	return p.ctx.ForwardAt(id, output{expired: true}, p.ctx.StreamTime())
}

// add caches s as id's profile. Past maxCached, the cache is written back
// and starts afresh.
func (p *profiler) add(id string, s stored) (*cached, error) {
	if len(p.cache) >= p.maxCached {
		if err := p.writeBack(); err != nil {
			return nil, err
		}
		clear(p.cache)
	}
	c := &cached{s: s}
	p.cache[id] = c
	return c, nil
}

// touch marks c, id's cached profile, as changed.
func (p *profiler) touch(id string, c *cached) {
	if !c.dirty {
		c.dirty = true
		p.dirty = append(p.dirty, id)
	}
}

// writeBack encodes and writes every dirty profile to the store.
func (p *profiler) writeBack() error {
	for _, id := range p.dirty {
		c := p.cache[id]
		if c == nil { // expired in the cache (get)
			continue
		}
		if p.expired(&c.s) {
			if err := p.drop(id, c); err != nil {
				return err
			}
			continue
		}
		// Stamped with the last event's stream time, not the commit's:
		// expiry must not depend on when commits come.
		if err := p.profiles.PutAt(id, c.s, c.s.Profile.UpdatedAt); err != nil {
			return err
		}
		c.dirty, c.inStore = false, true
	}
	clear(p.dirty)
	p.dirty = p.dirty[:0]
	return nil
}

func (p *profiler) Init(ctx *topology.Context[string, output]) error {
	p.ctx = ctx
	var err error
	if p.profiles, err = topology.KV(ctx, StoreProfiles, p.keys, storedCodec); err != nil {
		return err
	}
	if p.timers, err = ctx.Store(StoreCartTimers); err != nil {
		return err
	}
	p.isChanged = map[string]bool{}
	p.cache = map[string]*cached{}
	if p.maxCached <= 0 {
		p.maxCached = maxCachedProfiles
	}
	if p.ttl > 0 {
		if err := ctx.OnExpire(StoreProfiles, p.expire); err != nil {
			return err
		}
	}
	// An interval of 1ms fires whenever stream time moves.
	if _, err := ctx.Schedule(time.Millisecond, topology.StreamTime, p.fireTimers); err != nil {
		return err
	}
	return ctx.OnCommit(p.commit)
}

// sameRecord reports whether m is the record buffered state belongs to,
// and starts afresh if not.
func (p *profiler) sameRecord(m topology.RecordMeta) {
	if m.Topic == p.rec.Topic && m.Partition == p.rec.Partition && m.Offset == p.rec.Offset {
		return
	}
	p.rec, p.afterView, p.itemCats = m, nil, nil
}

func (p *profiler) Process(ctx *topology.Context[string, output], id string, in *input) error {
	meta, _ := ctx.Record()
	p.sameRecord(meta)
	switch {
	case in.erasure != nil:
		return p.erase(ctx, id, in.erasure)
	case in.afterView != "":
		if p.afterView == nil {
			p.afterView = map[string]bool{}
		}
		p.afterView[in.afterView] = true
		return nil
	case in.purchase != nil && in.item >= 0:
		p.itemCats = append(p.itemCats, in.itemCat)
		if in.item < in.items-1 {
			return nil // wait for the event's last line item
		}
	}
	e := event{
		at:        meta.Timestamp.UnixMilli(),
		st:        ctx.StreamTime().UnixMilli(),
		customer:  in.customer,
		view:      in.view,
		viewCat:   in.viewCat,
		purchase:  in.purchase,
		itemCats:  p.itemCats,
		ticket:    in.ticket,
		afterView: p.afterView,
	}
	p.afterView, p.itemCats = nil, nil
	c, err := p.get(id)
	if err == nil && c == nil {
		var s stored
		if p.ttl > 0 {
			// Above any version of an expired profile of id (Config.InactiveTTL).
			s.Profile.Version = e.st * 1000
		}
		// Above any version of an erased profile of id, so trigger ids
		// (customer, type, version) are never used twice. The event is
		// newer than the erasure, so with a TTL too the line above wins.
		if kb, err := p.keys.Encode(StoreProfiles, id); err == nil {
			if at, ok := ctx.ErasedAt(kb); ok {
				s.Profile.Version = max(s.Profile.Version, at.UnixMilli()*1000)
			}
		}
		c, err = p.add(id, s)
	}
	if err != nil {
		return err
	}
	s := &c.s
	oldDeadline := s.CartDeadline
	fired := s.apply(id, e)
	p.touch(id, c)
	s.CartDeadline = 0
	if s.CartActivity != 0 && len(s.Profile.CartItems) > 0 {
		s.CartDeadline = s.CartActivity + p.cartIdle.Milliseconds()
	}
	if s.CartDeadline != oldDeadline {
		if err := p.setTimer(id, oldDeadline, s.CartDeadline); err != nil {
			return err
		}
	}
	if p.emit == PerEvent {
		u := s.Profile
		if err := ctx.ForwardAt(id, output{update: &u}, u.UpdatedAt); err != nil {
			return err
		}
		c.published = true
	} else if !p.isChanged[id] {
		p.isChanged[id] = true
		p.changed = append(p.changed, id)
	}
	for i := range fired {
		tr := fired[i]
		tr.TriggerID = TriggerID(id, tr.Type, s.Profile.Version)
		tr.CustomerID = id
		tr.FiredAt = s.Profile.UpdatedAt
		tr.CauseEventID = causeID(e)
		if err := ctx.ForwardAt(id, output{trigger: &tr}, tr.FiredAt); err != nil {
			return err
		}
	}
	return nil
}

func causeID(e event) *string {
	var id string
	switch {
	case e.view != nil:
		id = e.view.Context.EventID
	case e.purchase != nil:
		id = e.purchase.Context.EventID
	case e.ticket != nil:
		id = e.ticket.Context.EventID
	}
	return &id
}

// Timer keys: deadline (big-endian Unix ms, offset to sort negatives
// first) then the customer key bytes.
func (p *profiler) timerKey(id string, deadline int64) ([]byte, error) {
	kb, err := p.keys.Encode(StoreCartTimers, id)
	if err != nil {
		return nil, err
	}
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(kb)), uint64(deadline)^(1<<63))
	return append(k, kb...), nil
}

func (p *profiler) setTimer(id string, old, deadline int64) error {
	if old != 0 {
		k, err := p.timerKey(id, old)
		if err != nil {
			return err
		}
		if err := p.timers.Delete(k); err != nil {
			return err
		}
	}
	if deadline == 0 {
		return nil
	}
	k, err := p.timerKey(id, deadline)
	if err != nil {
		return err
	}
	if p.firedKnown && deadline <= p.firedTo { // a deadline already past
		p.firedTo, p.firedKnown = deadline-1, deadline != math.MinInt64
	}
	p.nextDue = min(p.nextDue, deadline)
	return p.timers.Put(k, []byte{})
}

// fireTimers fires cart_abandoned for every cart whose deadline stream
// time has reached, in deadline then key order.
func (p *profiler) fireTimers(now time.Time) error {
	st := now.UnixMilli()
	var start []byte
	if p.firedKnown {
		if st <= p.firedTo {
			return nil
		}
		if st < p.nextDue {
			p.firedTo = st
			return nil
		}
		start = binary.BigEndian.AppendUint64(nil, uint64(p.firedTo+1)^(1<<63))
	}
	// Past the due ones, the first key left says when the next is due.
	it := p.timers.Range(start, nil)
	var due [][]byte
	next := int64(math.MaxInt64)
	for it.Next() {
		k := it.Key()
		if len(k) < 8 {
			it.Close()
			return fmt.Errorf("%w: cart timer key %q", topology.ErrStore, k)
		}
		if d := int64(binary.BigEndian.Uint64(k) ^ (1 << 63)); d > st {
			next = d
			break
		}
		due = append(due, append([]byte(nil), k...))
	}
	err := it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	p.firedTo, p.nextDue, p.firedKnown = st, next, true
	for _, k := range due {
		if err := p.timers.Delete(k); err != nil {
			return err
		}
		id, err := p.keys.Decode(StoreCartTimers, k[8:])
		if err != nil {
			return fmt.Errorf("%w: cart timer key: %w", topology.ErrStore, err)
		}
		c, err := p.get(id)
		if err != nil {
			return err
		}
		// With InactiveTTL, a timer whose deadline the profile does not
		// have belongs to an expired profile (a new one may have a cart
		// of its own, with its own timer).
		if c == nil || len(c.s.Profile.CartItems) == 0 || p.ttl > 0 && c.s.CartDeadline != int64(binary.BigEndian.Uint64(k)^(1<<63)) {
			continue
		}
		s := &c.s
		tr := s.cartAbandoned(st, p.cartIdle)
		tr.TriggerID = TriggerID(id, tr.Type, s.Profile.Version)
		tr.CustomerID = id
		if err := p.ctx.ForwardAt(id, output{trigger: &tr}, tr.FiredAt); err != nil {
			return err
		}
	}
	return nil
}

// commit is the commit hook: in PerCommit mode it forwards the latest
// profile of each customer changed since the last commit, in the order
// they first changed; then it writes the dirty profiles back.
func (p *profiler) commit() error {
	if p.emit == PerCommit {
		for _, id := range p.changed {
			c, err := p.get(id)
			if err != nil {
				return err
			}
			if c == nil {
				continue
			}
			u := c.s.Profile
			normalize(&u)
			if err := p.ctx.ForwardAt(id, output{update: &u}, u.UpdatedAt); err != nil {
				return err
			}
			c.published = true
		}
		clear(p.changed)
		clear(p.isChanged)
		p.changed = p.changed[:0]
	}
	return p.writeBack()
}
