package processor

import "fmt"

// GetGlobal returns the value of key in the global table whose store is
// store (topology.GlobalTableInfo.Store; by default the table's topic),
// key and value as the topic holds them. Every worker keeps the whole
// table, so any running worker answers, with the latest record it has
// read from the topic: global tables follow their topic as it is
// written, not in step with commits, as in Kafka Streams. It returns
// ErrNotReady until the worker has loaded its global tables, and
// ErrUnknownStore for a store that is not a global table (use Get).
// Safe for concurrent use.
func (a *App) GetGlobal(store string, key []byte) ([]byte, bool, error) {
	global := false
	for _, g := range a.topo.GlobalTables() {
		if g.Store == store {
			global = true
		}
	}
	if !global {
		return nil, false, fmt.Errorf("%w: %q is not a global table", ErrUnknownStore, store)
	}
	s := a.serving.Load()
	if s == nil {
		return nil, false, ErrNotReady
	}
	v, ok, err := s.w.db.Store(globalTask, store).Get(key)
	if err != nil || !ok {
		return nil, false, err
	}
	return append([]byte(nil), v...), true, nil
}
