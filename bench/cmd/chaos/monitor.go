package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

type tp struct {
	topic string
	part  int32
}

// snapshot is the group's committed offset and the log end of every input
// partition at one moment.
type snapshot struct {
	at        time.Time
	committed map[tp]int64
	end       map[tp]int64
}

// monitor samples the group's progress, to tell how long partitions that
// had work went without a commit.
type monitor struct {
	adm    *kadm.Client
	group  string
	topics []string

	mu    sync.Mutex
	snaps []snapshot
}

func newMonitor(adm *kadm.Client, group string, topics []string) *monitor {
	return &monitor{adm: adm, group: group, topics: topics}
}

func (m *monitor) run(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		committed, cerr := m.adm.FetchOffsets(qctx, m.group)
		ends, eerr := m.adm.ListEndOffsets(qctx, m.topics...)
		cancel()
		if cerr != nil || eerr != nil {
			continue // a broker is down: the gap shows in the next sample
		}
		s := snapshot{at: time.Now(), committed: map[tp]int64{}, end: map[tp]int64{}}
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err == nil {
				s.end[tp{o.Topic, o.Partition}] = o.Offset
			}
		})
		committed.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil {
				s.committed[tp{o.Topic, o.Partition}] = o.At
			}
		})
		m.mu.Lock()
		m.snaps = append(m.snaps, s)
		m.mu.Unlock()
	}
}

// stall is how long after t every partition that had work at t (records
// past its committed offset) and that pick selects took to commit again.
// ok is false when no such partition had work.
func (m *monitor) stall(t time.Time, pick func(tp) bool) (d time.Duration, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := 0
	for i < len(m.snaps) && m.snaps[i].at.Before(t) {
		i++
	}
	if i == len(m.snaps) {
		return 0, false
	}
	base := m.snaps[i]
	waiting := map[tp]int64{}
	for p, end := range base.end {
		if c := base.committed[p]; end > c && pick(p) {
			waiting[p] = c
		}
	}
	if len(waiting) == 0 {
		return 0, false
	}
	var worst time.Duration
	for _, s := range m.snaps[i+1:] {
		for p, c := range waiting {
			if s.committed[p] > c {
				worst = max(worst, s.at.Sub(t))
				delete(waiting, p)
			}
		}
		if len(waiting) == 0 {
			break
		}
	}
	if len(waiting) > 0 { // never committed again while sampled
		worst = max(worst, m.snaps[len(m.snaps)-1].at.Sub(t))
	}
	return worst, true
}

// gaps lists, per partition, the time between successive commits that
// started while the partition had work.
func (m *monitor) gaps() []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []time.Duration
	type state struct {
		at      time.Time
		offset  int64
		pending bool
	}
	last := map[tp]*state{}
	for _, s := range m.snaps {
		for p, c := range s.committed {
			st := last[p]
			if st == nil {
				last[p] = &state{at: s.at, offset: c, pending: s.end[p] > c}
				continue
			}
			if c != st.offset {
				if st.pending {
					out = append(out, s.at.Sub(st.at))
				}
				st.at, st.offset = s.at, c
			}
			if !st.pending && s.end[p] > c {
				st.pending, st.at = true, s.at
			}
			if s.end[p] <= c {
				st.pending = false
			}
		}
	}
	return out
}

// save writes the samples, one line per sample and partition, for a
// closer look at a run.
func (m *monitor) save(path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	type row struct {
		At        time.Time `json:"at"`
		Partition string    `json:"partition"`
		Committed int64     `json:"committed"`
		End       int64     `json:"end"`
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, s := range m.snaps {
		for p, end := range s.end {
			if err := enc.Encode(row{s.at, fmt.Sprintf("%s/%d", p.topic, p.part), s.committed[p], end}); err != nil {
				f.Close()
				return err
			}
		}
	}
	return f.Close()
}
