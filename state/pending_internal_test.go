package state

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// TestInsertRangeModel: adding range deletes one at a time leaves the
// same disjoint, ordered ranges as sorting and merging them all at once
// (nil ends, touching and nested ranges included).
func TestInsertRangeModel(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	key := func() []byte { return []byte{byte('a' + rng.IntN(26)), byte('a' + rng.IntN(3))} }
	for round := 0; round < 2000; round++ {
		var rs, all []KeyRange
		for n := rng.IntN(12); n >= 0; n-- {
			r := KeyRange{Start: key(), End: key()}
			if rng.IntN(15) == 0 {
				r.End = nil
			} else if bytes.Compare(r.Start, r.End) >= 0 {
				continue
			}
			rs = insertRange(rs, r)
			all = append(all, r)
		}
		want := sortMerge(all)
		if fmt.Sprintf("%q", rs) != fmt.Sprintf("%q", want) {
			t.Fatalf("seed %d: after %q\n got %q\nwant %q", seed, all, rs, want)
		}
	}
}

// sortMerge sorts ranges and joins the overlapping and touching ones.
func sortMerge(in []KeyRange) []KeyRange {
	rs := append([]KeyRange(nil), in...)
	sort.Slice(rs, func(i, j int) bool { return bytes.Compare(rs[i].Start, rs[j].Start) < 0 })
	var out []KeyRange
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.End == nil || bytes.Compare(r.Start, last.End) <= 0 {
				if last.End != nil && (r.End == nil || bytes.Compare(r.End, last.End) > 0) {
					last.End = r.End
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}
