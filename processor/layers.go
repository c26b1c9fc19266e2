package processor

import "github.com/weirstream/weir/state"

// layers is one task store's uncommitted writes, one overlay per commit
// interval in flight: the task core writes into top (the interval being
// processed), which sits over frozen (the interval whose commit is in
// flight, empty otherwise), which sits over the committed store. Local
// state still never runs ahead of Kafka: frozen reaches the committed
// store only once its transaction commits, and an abort drops both.
//
// The core holds the layers itself (a state.KeyValueStore), so the
// overlays can be restacked under it.
//
// It keeps the time index watermark its window or session stores share
// (state.WatermarkHolder): a commit leaves what they read true, a drop
// does not.
type layers struct {
	base   state.KeyValueStore
	top    *state.Pending
	frozen *state.Pending
	wm     state.IndexWatermark
}

// newLayers stacks two overlays over base; opts (a derived index) apply
// to both, since they trade places at each freeze.
func newLayers(base state.KeyValueStore, opts ...state.PendingOpt) *layers {
	return &layers{base: base, top: state.NewPending(base, opts...), frozen: state.NewPending(base, opts...)}
}

// freeze ends the top interval: its writes become frozen, to be
// committed, and a new empty top takes the writes that follow. The
// frozen overlay must be empty (its commit applied or dropped).
func (l *layers) freeze() {
	spare := l.frozen
	l.top.SetBase(l.base)
	spare.SetBase(l.top)
	l.frozen, l.top = l.top, spare
}

// committed forgets the frozen writes, once they are in the committed
// store.
func (l *layers) committed() { l.frozen.Reset() }

// drop forgets both intervals' writes.
func (l *layers) drop() {
	l.top.Reset()
	l.frozen.Reset()
	l.wm.Reset()
}

// IndexWatermark is the watermark the stores over l share.
func (l *layers) IndexWatermark() *state.IndexWatermark { return &l.wm }

func (l *layers) Get(key []byte) ([]byte, bool, error) { return l.top.Get(key) }
func (l *layers) Put(key, value []byte) error          { return l.top.Put(key, value) }
func (l *layers) Delete(key []byte) error              { return l.top.Delete(key) }
func (l *layers) DeleteRange(start, end []byte) error  { return l.top.DeleteRange(start, end) }
func (l *layers) Range(start, end []byte) state.Iterator {
	return l.top.Range(start, end)
}
