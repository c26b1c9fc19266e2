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
// belongs to the record being processed (join signals, line items) and,
// in PerCommit mode, which customers changed since the last commit.
type profiler struct {
	keys     codec.Serde[string]
	emit     EmitMode
	ctx      *topology.Context[string, output]
	profiles *topology.KVStore[string, stored]
	timers   state.KeyValueStore
	// firedTo: every timer with a deadline at or before it has fired, so
	// the next scan starts after it rather than at the first key, where
	// the deletions of fired timers pile up until a compaction. Memory
	// only: a new task core (open, rewind) scans from the start once.
	firedTo    int64
	firedKnown bool

	// The record the buffered signals and items belong to.
	rec       topology.RecordMeta
	afterView map[string]bool
	itemCats  []string

	changed []string
	isDirty map[string]bool

	// decoded holds profiles already decoded, so an event does not decode
	// its customer's JSON again. It cannot go stale: this processor is the
	// only writer of StoreProfiles, and a rewind or a task move replaces
	// it together with the state it read.
	decoded map[string]stored
}

// maxDecoded bounds the decoded profiles kept; past it the cache starts
// afresh.
const maxDecoded = 20000

func (p *profiler) get(id string) (stored, bool, error) {
	if s, ok := p.decoded[id]; ok {
		return s, true, nil
	}
	s, ok, err := p.profiles.Get(id)
	if err == nil && ok {
		p.remember(id, s)
	}
	return s, ok, err
}

func (p *profiler) put(id string, s stored) error {
	if err := p.profiles.Put(id, s); err != nil {
		return err
	}
	p.remember(id, s)
	return nil
}

func (p *profiler) remember(id string, s stored) {
	if len(p.decoded) >= maxDecoded {
		clear(p.decoded)
	}
	p.decoded[id] = s
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
	p.isDirty = map[string]bool{}
	p.decoded = map[string]stored{}
	// An interval of 1ms fires whenever stream time moves.
	if _, err := ctx.Schedule(time.Millisecond, topology.StreamTime, p.fireTimers); err != nil {
		return err
	}
	if p.emit == PerCommit {
		return ctx.OnCommit(p.flush)
	}
	return nil
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
	s, _, err := p.get(id)
	if err != nil {
		return err
	}
	oldDeadline := s.CartDeadline
	fired := s.apply(id, e)
	s.CartDeadline = 0
	if s.CartActivity != 0 && len(s.Profile.CartItems) > 0 {
		s.CartDeadline = s.CartActivity + CartIdle.Milliseconds()
	}
	if s.CartDeadline != oldDeadline {
		if err := p.setTimer(id, oldDeadline, s.CartDeadline); err != nil {
			return err
		}
	}
	if err := p.put(id, s); err != nil {
		return err
	}
	if p.emit == PerEvent {
		u := s.Profile
		if err := ctx.ForwardAt(id, output{update: &u}, u.UpdatedAt); err != nil {
			return err
		}
	} else if !p.isDirty[id] {
		p.isDirty[id] = true
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
		start = binary.BigEndian.AppendUint64(nil, uint64(p.firedTo+1)^(1<<63))
	}
	end := binary.BigEndian.AppendUint64(nil, uint64(st+1)^(1<<63))
	it := p.timers.Range(start, end)
	var due [][]byte
	for it.Next() {
		due = append(due, append([]byte(nil), it.Key()...))
	}
	err := it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	p.firedTo, p.firedKnown = st, true
	for _, k := range due {
		if err := p.timers.Delete(k); err != nil {
			return err
		}
		id, err := p.keys.Decode(StoreCartTimers, k[8:])
		if err != nil {
			return fmt.Errorf("%w: cart timer key: %w", topology.ErrStore, err)
		}
		s, ok, err := p.get(id)
		if err != nil {
			return err
		}
		if !ok || len(s.Profile.CartItems) == 0 {
			continue
		}
		tr := s.cartAbandoned(st)
		tr.TriggerID = TriggerID(id, tr.Type, s.Profile.Version)
		tr.CustomerID = id
		if err := p.ctx.ForwardAt(id, output{trigger: &tr}, tr.FiredAt); err != nil {
			return err
		}
	}
	return nil
}

// flush writes the latest profile of each customer changed since the last
// commit, in the order they first changed.
func (p *profiler) flush() error {
	for _, id := range p.changed {
		s, ok, err := p.get(id)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		u := s.Profile
		normalize(&u)
		if err := p.ctx.ForwardAt(id, output{update: &u}, u.UpdatedAt); err != nil {
			return err
		}
	}
	p.changed, p.isDirty = p.changed[:0], map[string]bool{}
	return nil
}
