package processor

import (
	"io/fs"
	"path/filepath"
)

// StateBytes is the size on disk of this worker's state directory for
// the application: the Pebble store of every task and replica it holds,
// and the state of moved tasks it keeps for a while (KeepMovedState). It
// walks the directory, so call it at scrape rate, not per record.
func (a *App) StateBytes() (int64, error) {
	var n int64
	err := filepath.WalkDir(filepath.Join(a.cfg.stateDir, a.topo.AppID()), func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file compacted away mid-walk: it no longer counts
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n, err
}
