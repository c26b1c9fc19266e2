package topology

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/state"
)

// ErrBadWindow is a window specification Build rejects: a size, advance
// or gap that is not positive, a negative grace, or no grace at all.
var ErrBadWindow = errors.New("topology: invalid window")

type windowKind int

const (
	tumblingWindows windowKind = iota + 1
	hoppingWindows
	slidingWindows
	sessionWindows
)

// Windows says how a windowed aggregation groups records in time. Build it
// with Tumbling, Hopping, Sliding or Session, then say the grace period
// with Grace: there is no default, since it trades completeness for
// latency.
//
// Every window is [Start, End): Start inclusive, End exclusive. A window
// closes when stream time (the largest event time the task has seen)
// reaches End + grace; a session closes at End + gap + grace, since until
// then a record can still extend it. Closed windows are expired from the
// store (retention = size + grace). A record whose windows are all closed
// is late: it is counted in TaskStats.Late and, with LateTo, written to a
// topic as it was read; it updates nothing. A record with some of its
// windows still open (hopping, sliding) updates only those.
type Windows struct {
	kind      windowKind
	size      time.Duration // tumbling, hopping; maxDiff for sliding; gap for sessions
	advance   time.Duration
	grace     time.Duration
	graceSet  bool
	emitFinal bool
	lateTopic string
}

// Tumbling windows are fixed-size, non-overlapping and aligned to the Unix
// epoch: [0, size), [size, 2*size)...
func Tumbling(size time.Duration) Windows {
	return Windows{kind: tumblingWindows, size: size, advance: size}
}

// Hopping windows have a fixed size and start every advance (aligned to the
// epoch); with advance < size they overlap. A record at t is in the
// windows starting in (t-size, t]: size/advance of them when advance
// divides size; otherwise ceil(size/advance) when t mod advance <
// size mod advance, else floor(size/advance). Size 10 and advance 3 put
// records at 0, 3, 6... in 4 windows and the others in 3.
func Hopping(size, advance time.Duration) Windows {
	return Windows{kind: hoppingWindows, size: size, advance: advance}
}

// Sliding windows (Kafka Streams SlidingWindows) hold records whose
// timestamps differ by at most maxDiff. Each record at t has a window
// [t-maxDiff, t+1ms), and, if later records fall within maxDiff of it, a
// window [t+1ms, t+maxDiff+2ms): the distinct windows a sliding interval
// can see, never an empty one. Window ends are exclusive, so a window is
// maxDiff+1ms long.
func Sliding(maxDiff time.Duration) Windows {
	return Windows{kind: slidingWindows, size: maxDiff}
}

// Session windows group a key's records separated by less than gap of
// inactivity (records exactly gap apart share a session, as in Kafka
// Streams). A session is [first record, last record + 1ms). When a record
// joins two sessions they merge; on-update results then carry tombstones
// for the merged-away sessions. A record is late when the session it would
// make (alone or merged) already ends at or before stream time - grace;
// the session itself stays open to new records until End + gap + grace.
func Session(gap time.Duration) Windows {
	return Windows{kind: sessionWindows, size: gap}
}

// Grace admits records up to d late (by event time, behind stream time);
// use 0 for none.
func (w Windows) Grace(d time.Duration) Windows {
	w.grace, w.graceSet = d, true
	return w
}

// EmitFinal emits each window's result once, when the window closes,
// instead of on every update (the default). The output timestamp is the
// last millisecond of the window.
func (w Windows) EmitFinal() Windows {
	w.emitFinal = true
	return w
}

// LateTo writes late records to topic with their original key, value,
// timestamp and headers. Default: late records are only counted.
func (w Windows) LateTo(topic string) Windows {
	w.lateTopic = topic
	return w
}

func (w Windows) String() string {
	var s string
	switch w.kind {
	case tumblingWindows:
		s = fmt.Sprintf("tumbling size=%s", w.size)
	case hoppingWindows:
		s = fmt.Sprintf("hopping size=%s advance=%s", w.size, w.advance)
	case slidingWindows:
		s = fmt.Sprintf("sliding max-diff=%s", w.size)
	case sessionWindows:
		s = fmt.Sprintf("session gap=%s", w.size)
	default:
		return "no windows"
	}
	s += fmt.Sprintf(" grace=%s", w.grace)
	if w.emitFinal {
		s += " emit=final"
	} else {
		s += " emit=update"
	}
	return s
}

func (b *Builder) checkWindows(w Windows, name string) {
	switch {
	case w.kind == 0:
		b.errf("%w: %q: zero Windows, use Tumbling, Hopping, Sliding or Session", ErrBadWindow, name)
		return
	case w.size <= 0:
		b.errf("%w: %q: size or gap %s must be positive", ErrBadWindow, name, w.size)
	case w.kind == hoppingWindows && (w.advance <= 0 || w.advance > w.size):
		b.errf("%w: %q: advance %s must be in (0, size %s]", ErrBadWindow, name, w.advance, w.size)
	case w.size%time.Millisecond != 0 || w.advance%time.Millisecond != 0 || w.grace%time.Millisecond != 0:
		b.errf("%w: %q: durations must be whole milliseconds", ErrBadWindow, name)
	}
	if !w.graceSet {
		b.errf("%w: %q has no grace period: call .Grace(d); use 0 for none", ErrBadWindow, name)
	} else if w.grace < 0 {
		b.errf("%w: %q: negative grace %s", ErrBadWindow, name, w.grace)
	}
}

// Windowed is the key of a windowed aggregate: the record key and the
// window [Start, End).
type Windowed[K any] struct {
	Key        K
	Start, End time.Time
}

// WindowedSerde encodes windowed keys for sinks: the key's bytes, then
// Start and End as big-endian int64 Unix milliseconds (16 bytes).
func WindowedSerde[K any](ks codec.Serde[K]) codec.Serde[Windowed[K]] {
	if ks == nil {
		return nil
	}
	return windowedSerde[K]{ks: ks}
}

type windowedSerde[K any] struct{ ks codec.Serde[K] }

func (s windowedSerde[K]) Encode(topic string, w Windowed[K]) ([]byte, error) {
	kb, err := s.ks.Encode(topic, w.Key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(kb)+16)
	out = append(out, kb...)
	out = binary.BigEndian.AppendUint64(out, uint64(w.Start.UnixMilli()))
	return binary.BigEndian.AppendUint64(out, uint64(w.End.UnixMilli())), nil
}

func (s windowedSerde[K]) Decode(topic string, b []byte) (Windowed[K], error) {
	var w Windowed[K]
	if len(b) < 16 {
		return w, fmt.Errorf("%w: windowed key of %d bytes", codec.ErrMalformed, len(b))
	}
	n := len(b) - 16
	k, err := s.ks.Decode(topic, b[:n])
	if err != nil {
		return w, err
	}
	w.Key = k
	w.Start = msTime(int64(binary.BigEndian.Uint64(b[n:])))
	w.End = msTime(int64(binary.BigEndian.Uint64(b[n+8:])))
	return w, nil
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// WindowedStream is a grouped stream cut into windows, ready to aggregate.
type WindowedStream[K, V any] struct {
	g GroupedStream[K, V]
	w Windows
}

// WindowedBy cuts the grouped stream into windows.
func (g GroupedStream[K, V]) WindowedBy(w Windows) WindowedStream[K, V] {
	return WindowedStream[K, V]{g: g, w: w}
}

// Count counts records per key and window, in a store named name.
func (ws WindowedStream[K, V]) Count(name string) Table[Windowed[K], int64] {
	return windowedAggregate(ws, name, "window-count", codec.Int64(),
		func(_ K, _ V, n int64, _ bool) (int64, error) { return n + 1, nil },
		func(_ K, a, b int64) (int64, error) { return a + b, nil })
}

// Reduce combines the values of each key and window with fn, starting from
// the first value. For sessions, fn also merges two sessions' results.
func (ws WindowedStream[K, V]) Reduce(name string, fn func(agg, v V) (V, error)) Table[Windowed[K], V] {
	ws.g.b.checkFunc(fn != nil, name)
	return windowedAggregate(ws, name, "window-reduce", ws.g.vs,
		func(_ K, v V, agg V, ok bool) (V, error) {
			if !ok {
				return v, nil
			}
			return fn(agg, v)
		},
		func(_ K, a, b V) (V, error) { return fn(a, b) })
}

// AggregateWindowed folds the values of each key and window into an
// aggregate, kept in a store named name. init gives the aggregate of a new
// window. merge combines the aggregates of two sessions when a record
// joins them (oldest first); it is required for session windows and
// unused otherwise (may be nil). For sliding windows, a window created
// after its records arrived folds them in timestamp order.
func AggregateWindowed[K, V, VA any](ws WindowedStream[K, V], name string, init func() VA, add func(k K, v V, agg VA) (VA, error), merge func(k K, a, b VA) (VA, error), vas codec.Serde[VA]) Table[Windowed[K], VA] {
	ws.g.b.checkFunc(init != nil, name+" init")
	ws.g.b.checkFunc(add != nil, name+" adder")
	if ws.w.kind == sessionWindows {
		ws.g.b.checkFunc(merge != nil, name+" session merger")
	}
	return windowedAggregate(ws, name, "window-aggregate", vas,
		func(k K, v V, agg VA, ok bool) (VA, error) {
			if !ok {
				agg = init()
			}
			return add(k, v, agg)
		}, merge)
}

// winAgg is what the three windowed aggregations share.
type winAgg[K, V, VA any] struct {
	name  string
	w     Windows
	ks    codec.Serde[K]
	vs    codec.Serde[V]
	vas   codec.Serde[VA]
	step  func(k K, v V, agg VA, ok bool) (VA, error)
	merge func(k K, a, b VA) (VA, error)
}

func windowedAggregate[K, V, VA any](ws WindowedStream[K, V], name, op string, vas codec.Serde[VA], step func(K, V, VA, bool) (VA, error), merge func(K, VA, VA) (VA, error)) Table[Windowed[K], VA] {
	g, b, w := ws.g, ws.g.b, ws.w
	b.checkWindows(w, name)
	b.checkSerde(g.ks != nil, "key serde", name)
	b.checkSerde(vas != nil, "aggregate serde", name)
	if w.kind == slidingWindows {
		b.checkSerde(g.vs != nil, "value serde", name)
	}
	a := &winAgg[K, V, VA]{name: name, w: w, ks: g.ks, vs: g.vs, vas: vas, step: step, merge: merge}
	in := g.input(name)
	var late *node
	n := b.add(name, op+" "+w.String(), kindProcessor, []*node{in}, func(nc *nodeCtx) (proc, error) {
		kv, topic, err := nc.store(name)
		if err != nil {
			return nil, err
		}
		e := &winEmitter{nc: nc, late: late}
		switch w.kind {
		case sessionWindows:
			return a.sessionProc(nc, e, state.NewSessionStore(kv), topic), nil
		case slidingWindows:
			rkv, _, err := nc.store(name + "-records")
			if err != nil {
				return nil, err
			}
			return a.slidingProc(nc, e, state.NewWindowStore(kv), state.NewWindowStore(rkv), topic), nil
		default:
			return a.timeProc(nc, e, state.NewWindowStore(kv), topic), nil
		}
	})
	kind := KindWindow
	if w.kind == sessionWindows {
		kind = KindSession
	}
	b.declareStoreKind(name, kind, n)
	if w.kind == slidingWindows {
		b.declareStoreKind(name+"-records", KindWindow, n)
	}
	if w.lateTopic != "" {
		late = lateSink(b, n, name, w.lateTopic)
	}
	return Table[Windowed[K], VA]{b: b, n: n, store: name, ks: WindowedSerde(g.ks), vs: vas, windowed: true}
}

// lateSink adds a sink writing the input record being processed, as it was
// read, to topic. Its parent sends it any msg to trigger it.
func lateSink(b *Builder, parent *node, name, topic string) *node {
	n := b.add(b.uniqueName(name+"-late"), "late-sink", kindSink, []*node{parent}, func(nc *nodeCtx) (proc, error) {
		return procFunc(func(msg) error {
			if !nc.t.inRecord {
				return nil
			}
			r := nc.t.cur
			return nc.t.emit(topic, r.Key, r.Value, msg{ts: r.Timestamp, headers: r.Headers}, nil)
		}), nil
	})
	if topic == "" {
		b.opErr("LateTo", ErrNoTopic, fmt.Sprintf("late records of %q", name))
	}
	n.topic = topic
	return n
}

// winEmitter forwards results to every child but the late sink, and late
// records only to it.
type winEmitter struct {
	nc   *nodeCtx
	late *node
}

func (e *winEmitter) forward(m msg) error {
	for i, c := range e.nc.n.children {
		if c == e.late {
			continue
		}
		if err := e.nc.forwardTo(i, m); err != nil {
			return err
		}
	}
	return nil
}

func (e *winEmitter) lateRecord(m msg) error {
	e.nc.countLate()
	for i, c := range e.nc.n.children {
		if c == e.late {
			return e.nc.forwardTo(i, m)
		}
	}
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (a *winAgg[K, V, VA]) decodeAgg(topic string, b []byte) (VA, error) {
	v, err := a.vas.Decode(topic, b)
	if err != nil {
		return v, fmt.Errorf("%w: %s: decode aggregate: %w", ErrStore, topic, err)
	}
	return v, nil
}

func (a *winAgg[K, V, VA]) encodeAgg(topic string, v VA) ([]byte, error) {
	b, err := a.vas.Encode(topic, v)
	if err != nil {
		return nil, userErr(a.name+": encode aggregate", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// result forwards one window's change.
func (a *winAgg[K, V, VA]) result(e *winEmitter, m msg, k K, start, end int64, old, nv *VA) error {
	m.key = Windowed[K]{Key: k, Start: msTime(start), End: msTime(end)}
	m.value = Change[VA]{Old: old, New: nv}
	return e.forward(m)
}

type storedWindow struct {
	key   []byte
	start int64
	end   int64 // sessions: last record time
	value []byte
}

func collect(next func() bool, get func() storedWindow, closeIt func() error, topic string) ([]storedWindow, error) {
	var out []storedWindow
	// One buffer holds the copies: a window's key and value are capped
	// slices of it, still valid when a later append moves it.
	var buf []byte
	for next() {
		w := get()
		k := len(buf)
		buf = append(buf, w.key...)
		v := len(buf)
		buf = append(buf, w.value...)
		w.key, w.value = buf[k:v:v], buf[v:len(buf):len(buf)]
		out = append(out, w)
	}
	return out, storeErr(topic, closeIt())
}

func fetchWindows(it *state.WindowIterator, topic string) ([]storedWindow, error) {
	return collect(it.Next, func() storedWindow {
		return storedWindow{key: it.Key(), start: it.Start(), value: it.Value()}
	}, it.Close, topic)
}

func fetchSessions(it *state.SessionIterator, topic string) ([]storedWindow, error) {
	return collect(it.Next, func() storedWindow {
		return storedWindow{key: it.Key(), start: it.Start(), end: it.End(), value: it.Value()}
	}, it.Close, topic)
}

// closeWindows emits (for EmitFinal) and expires the windows of ws whose
// start is at most bound. end gives a window's exclusive end.
func (a *winAgg[K, V, VA]) closeWindows(e *winEmitter, ws *state.WindowStore, topic string, bound int64, end func(start int64) int64) error {
	if a.w.emitFinal {
		closed, err := fetchWindows(ws.FetchAll(math.MinInt64, bound), topic)
		if err != nil {
			return err
		}
		if err := a.emitClosed(e, topic, closed, func(w storedWindow) int64 { return end(w.start) }); err != nil {
			return err
		}
	}
	return storeErr(topic, ws.ExpireBefore(bound+1))
}

// emitClosed emits the final aggregate of each closed window, stamped
// with its last millisecond; end gives a window's exclusive end.
func (a *winAgg[K, V, VA]) emitClosed(e *winEmitter, topic string, closed []storedWindow, end func(storedWindow) int64) error {
	for _, w := range closed {
		k, err := a.ks.Decode(topic, w.key)
		if err != nil {
			return fmt.Errorf("%w: %s: decode key: %w", ErrStore, topic, err)
		}
		v, err := a.decodeAgg(topic, w.value)
		if err != nil {
			return err
		}
		if err := a.result(e, msg{ts: msTime(end(w) - 1)}, k, w.start, end(w), nil, &v); err != nil {
			return err
		}
	}
	return nil
}

// timeProc runs tumbling and hopping windows.
func (a *winAgg[K, V, VA]) timeProc(nc *nodeCtx, e *winEmitter, ws *state.WindowStore, topic string) proc {
	size, adv, grace := a.w.size.Milliseconds(), a.w.advance.Milliseconds(), a.w.grace.Milliseconds()
	closedUpTo := int64(math.MinInt64)
	nc.onStreamTime(func(st time.Time) error {
		bound := st.UnixMilli() - size - grace // windows starting at or before are closed
		if bound <= closedUpTo {
			return nil
		}
		closedUpTo = bound
		return a.closeWindows(e, ws, topic, bound, func(s int64) int64 { return s + size })
	})
	return procFunc(func(m msg) error {
		k, v := as[K](m.key), as[V](m.value)
		t := m.ts.UnixMilli()
		now, _ := nc.streamTime()
		st := now.UnixMilli()
		last := floorDiv(t, adv) * adv
		if last+size+grace <= st {
			return e.lateRecord(m)
		}
		kb, err := a.ks.Encode(topic, k)
		if err != nil {
			return userErr(a.name+": encode key", err)
		}
		first := last
		for first-adv > t-size {
			first -= adv
		}
		for s := first; s <= last; s += adv {
			if s+size+grace <= st {
				continue // closed; a later window is open
			}
			if err := a.update(e, m, ws, topic, k, v, kb, s, s+size); err != nil {
				return err
			}
		}
		return nil
	})
}

// update adds v to the window of kb starting at s, and forwards the change
// unless emitting finals.
func (a *winAgg[K, V, VA]) update(e *winEmitter, m msg, ws *state.WindowStore, topic string, k K, v V, kb []byte, s, end int64) error {
	ob, ok, err := ws.Get(kb, s)
	if err != nil {
		return storeErr(topic, err)
	}
	var old *VA
	var agg VA
	if ok {
		if agg, err = a.decodeAgg(topic, ob); err != nil {
			return err
		}
		o := agg
		old = &o
	}
	nv, err := a.step(k, v, agg, ok)
	if err != nil {
		return userErr(a.name, err)
	}
	return a.put(e, m, ws, topic, k, kb, s, end, old, nv)
}

func (a *winAgg[K, V, VA]) put(e *winEmitter, m msg, ws *state.WindowStore, topic string, k K, kb []byte, s, end int64, old *VA, nv VA) error {
	nb, err := a.encodeAgg(topic, nv)
	if err != nil {
		return err
	}
	if err := ws.Put(kb, s, nb); err != nil {
		return storeErr(topic, err)
	}
	if a.w.emitFinal {
		return nil
	}
	return a.result(e, m, k, s, end, old, &nv)
}

// slidingProc runs sliding windows. Besides the windows it buffers the
// records themselves (store <name>-records), because a record can create
// windows holding records that arrived before it.
func (a *winAgg[K, V, VA]) slidingProc(nc *nodeCtx, e *winEmitter, ws, recs *state.WindowStore, topic string) proc {
	d, grace := a.w.size.Milliseconds(), a.w.grace.Milliseconds()
	rtopic := nc.t.topo.stores[a.name+"-records"].changelog
	closedUpTo := int64(math.MinInt64)
	nc.onStreamTime(func(st time.Time) error {
		bound := st.UnixMilli() - d - 1 - grace
		if bound <= closedUpTo {
			return nil
		}
		closedUpTo = bound
		if err := a.closeWindows(e, ws, topic, bound, func(s int64) int64 { return s + d + 1 }); err != nil {
			return err
		}
		// A record is needed while a window holding it is open, or its
		// right window [r+1, r+1+d], which starts 1ms later, may be made.
		return storeErr(rtopic, recs.ExpireBefore(bound))
	})
	return procFunc(func(m msg) error {
		k, v := as[K](m.key), as[V](m.value)
		t := m.ts.UnixMilli()
		now, _ := nc.streamTime()
		st := now.UnixMilli()
		open := func(s int64) bool { return s+d+1+grace > st }
		if !open(t) { // the newest window holding t starts at t
			return e.lateRecord(m)
		}
		kb, err := a.ks.Encode(topic, k)
		if err != nil {
			return userErr(a.name+": encode key", err)
		}
		vb, err := a.vs.Encode(rtopic, v)
		if err != nil {
			return userErr(a.name+": encode value", err)
		}
		// Buffer the record: values at one timestamp, uvarint-length framed.
		prev, _, err := recs.Get(kb, t)
		if err != nil {
			return storeErr(rtopic, err)
		}
		buf := append([]byte(nil), prev...)
		buf = binary.AppendUvarint(buf, uint64(len(vb)))
		buf = append(buf, vb...)
		if err := recs.Put(kb, t, buf); err != nil {
			return storeErr(rtopic, err)
		}
		// Existing windows holding t get v added.
		existing, err := fetchWindows(ws.Fetch(kb, t-d, t), topic)
		if err != nil {
			return err
		}
		has := map[int64][]byte{}
		starts := []int64{}
		for _, w := range existing {
			has[w.start] = w.value
			starts = append(starts, w.start)
		}
		add := func(s int64) {
			if _, ok := has[s]; !ok && !containsInt64(starts, s) {
				starts = append(starts, s)
			}
		}
		add(t - d) // t's own window
		before, err := fetchWindows(recs.Fetch(kb, t-d-1, t-1), rtopic)
		if err != nil {
			return err
		}
		if len(before) > 0 { // the previous record's right window now holds t
			add(before[len(before)-1].start + 1)
		}
		after, err := fetchWindows(recs.Fetch(kb, t+1, t+d), rtopic)
		if err != nil {
			return err
		}
		if len(after) > 0 { // t's right window, of the records after it
			if _, ok, err := ws.Get(kb, t+1); err != nil {
				return storeErr(topic, err)
			} else if !ok {
				add(t + 1)
			}
		}
		sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
		for _, s := range starts {
			if !open(s) {
				continue
			}
			if ob, ok := has[s]; ok {
				agg, err := a.decodeAgg(topic, ob)
				if err != nil {
					return err
				}
				old := agg
				nv, err := a.step(k, v, agg, true)
				if err != nil {
					return userErr(a.name, err)
				}
				if err := a.put(e, m, ws, topic, k, kb, s, s+d+1, &old, nv); err != nil {
					return err
				}
				continue
			}
			// A new window: fold the buffered records it holds.
			rs, err := fetchWindows(recs.Fetch(kb, s, s+d), rtopic)
			if err != nil {
				return err
			}
			var agg VA
			ok := false
			for _, r := range rs {
				for b := r.value; len(b) > 0; {
					n, w := binary.Uvarint(b)
					if w <= 0 || uint64(len(b)-w) < n {
						return fmt.Errorf("%w: %s: bad record buffer", ErrStore, rtopic)
					}
					rv, err := a.vs.Decode(rtopic, b[w:w+int(n)])
					if err != nil {
						return fmt.Errorf("%w: %s: decode value: %w", ErrStore, rtopic, err)
					}
					b = b[w+int(n):]
					if agg, err = a.step(k, rv, agg, ok); err != nil {
						return userErr(a.name, err)
					}
					ok = true
				}
			}
			if !ok {
				continue
			}
			if err := a.put(e, m, ws, topic, k, kb, s, s+d+1, nil, agg); err != nil {
				return err
			}
		}
		return nil
	})
}

func containsInt64(xs []int64, x int64) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// sessionProc runs session windows. The store keeps sessions by first and
// last record time (both inclusive); results show End = last + 1ms.
func (a *winAgg[K, V, VA]) sessionProc(nc *nodeCtx, e *winEmitter, ss *state.SessionStore, topic string) proc {
	gap, grace := a.w.size.Milliseconds(), a.w.grace.Milliseconds()
	closedUpTo := int64(math.MinInt64)
	nc.onStreamTime(func(now time.Time) error {
		bound := now.UnixMilli() - gap - grace - 1 // sessions whose last record is at or before are closed
		if bound <= closedUpTo {
			return nil
		}
		closedUpTo = bound
		if a.w.emitFinal {
			closed, err := fetchSessions(ss.FetchAll(math.MinInt64, bound), topic)
			if err != nil {
				return err
			}
			// A session's stored end is its last record; its window ends 1ms later.
			if err := a.emitClosed(e, topic, closed, func(w storedWindow) int64 { return w.end + 1 }); err != nil {
				return err
			}
		}
		return storeErr(topic, ss.ExpireBefore(bound+1))
	})
	return procFunc(func(m msg) error {
		k, v := as[K](m.key), as[V](m.value)
		t := m.ts.UnixMilli()
		now, _ := nc.streamTime()
		st := now.UnixMilli()
		kb, err := a.ks.Encode(topic, k)
		if err != nil {
			return userErr(a.name+": encode key", err)
		}
		merged, err := fetchSessions(ss.FindSessions(kb, t-gap, t+gap), topic)
		if err != nil {
			return err
		}
		first, last := t, t
		for _, s := range merged {
			first, last = min(first, s.start), max(last, s.end)
		}
		if last+1+grace <= st {
			return e.lateRecord(m)
		}
		var agg VA
		ok := false
		var same *VA // the session kept its bounds: an update, not a merge
		for _, s := range merged {
			sv, err := a.decodeAgg(topic, s.value)
			if err != nil {
				return err
			}
			if s.start == first && s.end == last {
				x := sv
				same = &x
			}
			if !ok {
				agg, ok = sv, true
			} else if agg, err = a.merge(k, agg, sv); err != nil {
				return userErr(a.name+" merger", err)
			}
		}
		nv, err := a.step(k, v, agg, ok)
		if err != nil {
			return userErr(a.name, err)
		}
		for _, s := range merged {
			if s.start == first && s.end == last {
				continue
			}
			if err := ss.Remove(kb, s.start, s.end); err != nil {
				return storeErr(topic, err)
			}
			if !a.w.emitFinal {
				old, err := a.decodeAgg(topic, s.value)
				if err != nil {
					return err
				}
				if err := a.result(e, m, k, s.start, s.end+1, &old, nil); err != nil {
					return err
				}
			}
		}
		nb, err := a.encodeAgg(topic, nv)
		if err != nil {
			return err
		}
		if err := ss.Put(kb, first, last, nb); err != nil {
			return storeErr(topic, err)
		}
		if a.w.emitFinal {
			return nil
		}
		return a.result(e, m, k, first, last+1, same, &nv)
	})
}
