package processor

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/state/pebble"
	"github.com/weirstream/weir/topology"
)

// wkey is a window: a user key and its start.
type wkey struct {
	key   string
	start int64
}

// skey is a session: a user key and its first and last times.
type skey struct {
	key        string
	start, end int64
}

// layersModel drives three task stores as the pipelined runtime does (a
// plain key-value store, and a window and a session store with their
// derived indexes, each a top overlay over a frozen one over Pebble) and
// checks them against maps: reads of both layers, Pebble after each
// commit, the changelog of each interval, and a restore of that
// changelog.
type layersModel struct {
	t    *testing.T
	seed uint64
	rng  *rand.Rand
	db   *pebble.DB

	kvBase, winBase, sesBase state.KeyValueStore
	kv, win, ses             *layers
	ws                       *state.WindowStore  // the core's, over win; remade at a rewind
	ss                       *state.SessionStore // likewise, over ses

	cur, frozen, committed    map[string]string
	wcur, wfrozen, wcommitted map[wkey]string
	scur, sfrozen, scommitted map[skey]string

	inFlight bool
	// Changelog records of the interval in flight, and of every
	// committed one, in order (what the changelog topics hold).
	txnKV, txnWin, txnSes []state.Change
	logKV, logWin, logSes []state.Change
	restores              int
}

func (m *layersModel) fatalf(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("seed %d: %s", m.seed, fmt.Sprintf(format, args...))
}

func (m *layersModel) must(err error) {
	m.t.Helper()
	if err != nil {
		m.fatalf("%v", err)
	}
}

// key is one of 260 dense keys (so range deletes hide long runs of base
// keys), now and then a shorter or longer one.
func (m *layersModel) key() string {
	k := string(rune('a'+m.rng.IntN(26))) + strconv.Itoa(m.rng.IntN(10))
	switch m.rng.IntN(10) {
	case 0:
		return k[:1]
	case 1:
		return k + "x"
	}
	return k
}

// kvOp is one random operation on the key-value store.
func (m *layersModel) kvOp(step int) {
	switch r := m.rng.IntN(20); {
	case r < 9:
		k, v := m.key(), "v"+strconv.Itoa(step)
		m.must(m.kv.Put([]byte(k), []byte(v)))
		m.cur[k] = v
	case r < 12:
		k := m.key()
		m.must(m.kv.Delete([]byte(k)))
		delete(m.cur, k)
	case r < 14:
		lo, hi := m.bounds()
		m.must(m.kv.DeleteRange(lo, hi))
		for k := range m.cur {
			if inRange(k, lo, hi) {
				delete(m.cur, k)
			}
		}
	case r < 16:
		k := m.key()
		v, ok, err := m.kv.Get([]byte(k))
		m.must(err)
		if w, wok := m.cur[k]; ok != wok || string(v) != w {
			m.fatalf("step %d: Get(%q) = %q, %v; want %q, %v", step, k, v, ok, w, wok)
		}
	case r < 18:
		lo, hi := m.bounds()
		m.checkScan(step, lo, hi)
	default:
		// As an expiry does: walk a range, deleting each key met.
		lo, hi := m.bounds()
		want := m.sortedIn(lo, hi)
		var got []string
		it := m.kv.Range(lo, hi)
		for it.Next() {
			k := string(it.Key())
			got = append(got, k)
			m.must(m.kv.Delete([]byte(k)))
			delete(m.cur, k)
		}
		m.must(it.Close())
		if !slices.Equal(got, want) {
			m.fatalf("step %d: deleting walk of [%q, %q) met %q; want %q", step, lo, hi, got, want)
		}
	}
}

func inRange(k string, lo, hi []byte) bool {
	return k >= string(lo) && (hi == nil || k < string(hi))
}

// bounds returns a random range: usually two keys, sometimes open.
func (m *layersModel) bounds() (lo, hi []byte) {
	a, b := m.key(), m.key()
	if a > b {
		a, b = b, a
	}
	lo, hi = []byte(a), []byte(b)
	switch m.rng.IntN(8) {
	case 0:
		lo = nil
	case 1:
		hi = nil
	}
	return lo, hi
}

func (m *layersModel) sortedIn(lo, hi []byte) []string {
	var out []string
	for k := range m.cur {
		if inRange(k, lo, hi) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (m *layersModel) checkScan(step int, lo, hi []byte) {
	m.t.Helper()
	var got []string
	it := m.kv.Range(lo, hi)
	for it.Next() {
		k := string(it.Key())
		if v := string(it.Value()); v != m.cur[k] {
			m.fatalf("step %d: scan [%q, %q): %q = %q, want %q", step, lo, hi, k, v, m.cur[k])
		}
		got = append(got, k)
	}
	m.must(it.Close())
	if want := m.sortedIn(lo, hi); !slices.Equal(got, want) {
		m.fatalf("step %d: scan [%q, %q) gave %q; want %q", step, lo, hi, got, want)
	}
}

// winOp is one random operation on the window store. Window starts
// mostly move forward with the step, as stream time does, and expiry
// follows them.
func (m *layersModel) winOp(step int) {
	now := int64(step)
	start := func() int64 { return now - 40 + m.rng.Int64N(50) }
	k := string(rune('p' + m.rng.IntN(5)))
	switch r := m.rng.IntN(20); {
	case r < 9:
		s, v := start(), "w"+strconv.Itoa(step)
		m.must(m.ws.Put([]byte(k), s, []byte(v)))
		m.wcur[wkey{k, s}] = v
	case r < 10:
		s := start()
		m.must(m.ws.Delete([]byte(k), s))
		delete(m.wcur, wkey{k, s})
	case r < 14:
		t := m.expiryTime(now)
		m.must(m.ws.ExpireBefore(t))
		maps.DeleteFunc(m.wcur, func(w wkey, _ string) bool { return w.start < t })
	case r < 17:
		from, to := start(), start()
		if m.rng.IntN(3) == 0 {
			from = math.MinInt64
		}
		m.checkWindows(step, m.ws, from, to, m.wcur)
	default:
		from, to := start(), start()
		var got, want []string
		it := m.ws.Fetch([]byte(k), from, to)
		for it.Next() {
			got = append(got, fmt.Sprintf("%d=%s", it.Start(), it.Value()))
		}
		m.must(it.Close())
		for w, v := range m.wcur {
			if w.key == k && w.start >= from && w.start <= to {
				want = append(want, fmt.Sprintf("%d=%s", w.start, v))
			}
		}
		slices.SortFunc(want, func(a, b string) int { return cmpStart(a) - cmpStart(b) })
		if !slices.Equal(got, want) {
			m.fatalf("step %d: Fetch(%s, %d, %d) = %q; want %q", step, k, from, to, got, want)
		}
	}
}

// sesOp is one random operation on the session store; session ends
// move forward with the step, and expiry follows them.
func (m *layersModel) sesOp(step int) {
	now := int64(step)
	k := string(rune('p' + m.rng.IntN(5)))
	switch r := m.rng.IntN(20); {
	case r < 9:
		end := now - 40 + m.rng.Int64N(50)
		start, v := end-m.rng.Int64N(10), "s"+strconv.Itoa(step)
		m.must(m.ss.Put([]byte(k), start, end, []byte(v)))
		m.scur[skey{k, start, end}] = v
	case r < 11:
		for s := range m.scur { // remove one, if any
			m.must(m.ss.Remove([]byte(s.key), s.start, s.end))
			delete(m.scur, s)
			break
		}
	case r < 15:
		t := m.expiryTime(now)
		m.must(m.ss.ExpireBefore(t))
		maps.DeleteFunc(m.scur, func(s skey, _ string) bool { return s.end < t })
	default:
		from, to := now-40+m.rng.Int64N(50), now-40+m.rng.Int64N(50)
		if m.rng.IntN(3) == 0 {
			from = math.MinInt64
		}
		m.checkSessions(step, m.ss, from, to, m.scur)
	}
}

// checkSessions compares FetchAll(from, to) of ss with the model: the
// sessions ending in [from, to], in end order, then key, then start.
func (m *layersModel) checkSessions(step int, ss *state.SessionStore, from, to int64, model map[skey]string) {
	m.t.Helper()
	var got, want []string
	it := ss.FetchAll(from, to)
	for it.Next() {
		got = append(got, fmt.Sprintf("%d/%s/%d=%s", it.End(), it.Key(), it.Start(), it.Value()))
	}
	m.must(it.Close())
	var ks []skey
	for s := range model {
		if s.end >= from && s.end <= to {
			ks = append(ks, s)
		}
	}
	slices.SortFunc(ks, func(a, b skey) int {
		switch {
		case a.end != b.end:
			return cmp.Compare(a.end, b.end)
		case a.key != b.key:
			return strings.Compare(a.key, b.key)
		}
		return cmp.Compare(a.start, b.start)
	})
	for _, s := range ks {
		want = append(want, fmt.Sprintf("%d/%s/%d=%s", s.end, s.key, s.start, model[s]))
	}
	if !slices.Equal(got, want) {
		m.fatalf("step %d: sessions FetchAll(%d, %d) =\n%q\nwant\n%q", step, from, to, got, want)
	}
}

// expiryTime picks an expiry bound a little behind now, and now and then
// one behind the low watermark.
func (m *layersModel) expiryTime(now int64) int64 {
	t := now - 30 + m.rng.Int64N(20)
	if m.rng.IntN(10) == 0 {
		t = now - 100
	}
	return t
}

func cmpStart(s string) int {
	n, _ := strconv.Atoi(s[:slices.Index([]byte(s), '=')])
	return n
}

// checkWindows compares FetchAll(from, to) of ws with the model: the
// windows, in start order.
func (m *layersModel) checkWindows(step int, ws *state.WindowStore, from, to int64, model map[wkey]string) {
	m.t.Helper()
	type win struct {
		k string
		s int64
		v string
	}
	var got, want []win
	it := ws.FetchAll(from, to)
	for it.Next() {
		got = append(got, win{string(it.Key()), it.Start(), string(it.Value())})
	}
	m.must(it.Close())
	for w, v := range model {
		if w.start >= from && w.start <= to {
			want = append(want, win{w.key, w.start, v})
		}
	}
	slices.SortFunc(want, func(a, b win) int {
		if a.s != b.s {
			if a.s < b.s {
				return -1
			}
			return 1
		}
		if a.k < b.k {
			return -1
		}
		if a.k > b.k {
			return 1
		}
		return 0
	})
	if !slices.Equal(got, want) {
		m.fatalf("step %d: FetchAll(%d, %d) =\n%v\nwant\n%v", step, from, to, got, want)
	}
}

// changes returns a top overlay's changelog records, copied.
func (m *layersModel) changes(p *state.Pending, index bool) []state.Change {
	var out []state.Change
	m.must(p.Changes(func(k, v []byte, tombstone bool) error {
		if index && len(k) > 0 && k[0] == 't' {
			m.fatalf("a window store's changelog carries index key %q", k)
		}
		c := state.Change{Key: append([]byte(nil), k...), Tombstone: tombstone}
		if !tombstone {
			c.Value = append([]byte{}, v...)
		}
		out = append(out, c)
		return nil
	}))
	return out
}

// freeze ends the interval as produce does: changelog records from the
// top overlays, then the overlays freeze.
func (m *layersModel) freeze() {
	m.txnKV = m.changes(m.kv.top, false)
	m.txnWin = m.changes(m.win.top, true)
	m.txnSes = m.changes(m.ses.top, true)
	m.kv.freeze()
	m.win.freeze()
	m.ses.freeze()
	m.frozen, m.wfrozen, m.sfrozen = maps.Clone(m.cur), maps.Clone(m.wcur), maps.Clone(m.scur)
	m.inFlight = true
}

// commit applies the frozen overlays to Pebble as taskSet.committed does.
func (m *layersModel) commit(step int) {
	writes := map[string]state.Batch{}
	if !m.kv.frozen.Empty() {
		writes["kv"] = m.kv.frozen
	}
	if !m.win.frozen.Empty() {
		writes["win"] = m.win.frozen
	}
	if !m.ses.frozen.Empty() {
		writes["ses"] = m.ses.frozen
	}
	if len(writes) > 0 {
		cp := state.Checkpoint{Offsets: map[state.TopicPartition]int64{{Topic: "log", Partition: 0}: int64(step)}}
		m.must(m.db.Commit("task", writes, cp))
	}
	m.kv.committed()
	m.win.committed()
	m.ses.committed()
	m.committed, m.wcommitted, m.scommitted = m.frozen, m.wfrozen, m.sfrozen
	m.logKV = append(m.logKV, m.txnKV...)
	m.logWin = append(m.logWin, m.txnWin...)
	m.logSes = append(m.logSes, m.txnSes...)
	m.inFlight = false
	m.checkCommitted(step)
}

// abort drops both intervals and remakes the core's window store, as
// taskSet.rewind does.
func (m *layersModel) abort() {
	m.kv.drop()
	m.win.drop()
	m.ses.drop()
	m.ws = state.NewWindowStore(m.win)
	m.ss = state.NewSessionStore(m.ses)
	m.cur, m.wcur, m.scur = maps.Clone(m.committed), maps.Clone(m.wcommitted), maps.Clone(m.scommitted)
	m.inFlight = false
}

// checkCommitted checks Pebble against the committed model, the
// changelog replayed over an empty map against it too, and a restore of
// the window changelog (index rebuilt) against the committed window
// store, key for key.
func (m *layersModel) checkCommitted(step int) {
	m.t.Helper()
	if got := dumpKV(m.t, m.kvBase); !maps.Equal(got, m.committed) {
		m.fatalf("step %d: Pebble holds %v; committed %v", step, got, m.committed)
	}
	replayed := map[string]string{}
	for _, c := range m.logKV {
		if c.Tombstone {
			delete(replayed, string(c.Key))
		} else {
			replayed[string(c.Key)] = string(c.Value)
		}
	}
	if !maps.Equal(replayed, m.committed) {
		m.fatalf("step %d: the changelog replays to %v; committed %v", step, replayed, m.committed)
	}
	// The committed window and session stores read like the model, and
	// their index and primary entries match one for one.
	m.checkWindows(step, state.NewWindowStore(m.winBase), math.MinInt64, math.MaxInt64, m.wcommitted)
	m.checkSessions(step, state.NewSessionStore(m.sesBase), math.MinInt64, math.MaxInt64, m.scommitted)
	m.checkIndexed(step, "win", m.winBase, len(m.wcommitted), state.WindowIndex, m.logWin)
	m.checkIndexed(step, "ses", m.sesBase, len(m.scommitted), state.SessionIndex, m.logSes)
}

// checkIndexed checks that a committed indexed store holds n primary and
// n index entries and, now and then, that its changelog restored into an
// empty store in random batches, as restore.go does, gives the same keys.
func (m *layersModel) checkIndexed(step int, store string, base state.KeyValueStore, n int, x *state.Index, log []state.Change) {
	m.t.Helper()
	local := dumpKV(m.t, base)
	var prim, idx int
	for k := range local {
		switch k[0] {
		case 'k':
			prim++
		case 't':
			idx++
		}
	}
	if prim != n || idx != n {
		m.fatalf("step %d: %s: Pebble holds %d entries and %d index entries; want %d of each", step, store, prim, idx, n)
	}
	if m.rng.IntN(8) != 0 {
		return
	}
	m.restores++
	task := "restored-" + strconv.Itoa(m.restores)
	var derived []state.Change
	for rest := log; len(rest) > 0; {
		n := min(len(rest), 1+m.rng.IntN(40))
		var err error
		derived, err = x.Derive(derived[:0], rest[:n])
		m.must(err)
		m.must(m.db.ApplyRestore(task, store, derived, state.Checkpoint{}))
		rest = rest[n:]
	}
	if got := dumpKV(m.t, m.db.Store(task, store)); !maps.Equal(got, local) {
		m.fatalf("step %d: restored %s store differs from the committed one:\n%v\n%v", step, store, got, local)
	}
	m.must(m.db.DropTask(task))
}

// TestLayersOverPebbleModel runs seeded random operations through both
// layers of two task stores over a real Pebble store, as the pipelined
// runtime stacks them: range deletes made in the frozen interval and
// then in the top one, scans across both (a scan skips long hidden runs
// by reopening its base, which is itself an overlay), freezes, commits
// and aborts. WEIR_LAYERS_SEED replays one seed.
func TestLayersOverPebbleModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WEIR_LAYERS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (WEIR_LAYERS_SEED=%d replays it)", seed, seed)
	db, err := pebble.Open(t.TempDir(), pebble.Options{Logger: zap.NewNop(), CacheSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := &layersModel{
		t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 2)), db: db,
		kvBase: db.Store("task", "kv"), winBase: db.Store("task", "win"), sesBase: db.Store("task", "ses"),
		cur: map[string]string{}, committed: map[string]string{},
		wcur: map[wkey]string{}, wcommitted: map[wkey]string{},
		scur: map[skey]string{}, scommitted: map[skey]string{},
	}
	m.kv = newLayers(m.kvBase)
	m.win = newLayers(m.winBase, storeIndex(topology.KindWindow)...)
	m.ses = newLayers(m.sesBase, storeIndex(topology.KindSession)...)
	m.ws = state.NewWindowStore(m.win)
	m.ss = state.NewSessionStore(m.ses)
	step := 0
	for round := 0; round < 400; round++ {
		for range m.rng.IntN(40) {
			step++
			m.kvOp(step)
			m.winOp(step)
			m.sesOp(step)
		}
		m.checkScan(step, nil, nil)
		m.checkWindows(step, m.ws, math.MinInt64, math.MaxInt64, m.wcur)
		m.checkSessions(step, m.ss, math.MinInt64, math.MaxInt64, m.scur)
		switch r := m.rng.IntN(10); {
		case r == 0:
			m.abort()
		case m.inFlight && r < 8:
			m.commit(step)
		case !m.inFlight:
			m.freeze()
		}
	}
	if m.restores == 0 {
		t.Fatalf("seed %d: no restore was checked", seed)
	}
}
