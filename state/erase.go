package state

import "fmt"

// DeleteKey removes every entry of key, with its time index, from kv, a
// store that window or session stores are layered over: what erasing a
// key from such a store means. It returns how many entries it removed.
// Each removal is a Delete on kv, so a changelogged kv logs a tombstone
// for each.
func DeleteKey(kv KeyValueStore, key []byte) (int, error) {
	prefix := primaryPrefix(key)
	it := kv.Range(prefix, PrefixEnd(prefix))
	var keys [][]byte
	for it.Next() {
		keys = append(keys, append([]byte(nil), it.Key()...))
	}
	err := it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	low := watermarkOf(kv)
	for _, pk := range keys {
		n := (len(pk) - len(prefix)) / 8
		if len(pk) != len(prefix)+8*n || n == 0 {
			return 0, fmt.Errorf("%w: key %q", ErrCorrupt, pk)
		}
		times := decodeTimes(pk[len(prefix):], n)
		if err := kv.Delete(pk); err != nil {
			return 0, err
		}
		ik := indexKey(key, times[0], times[1:]...)
		low.removed(ik)
		if err := kv.Delete(ik); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

func decodeTimes(b []byte, n int) []int64 {
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = decTime(b[8*i : 8*i+8])
	}
	return ts
}
