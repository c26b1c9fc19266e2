package topology

import (
	"bytes"
	"errors"
	"testing"
)

// A join buffer is its entries appended one after another; walkEntries
// reads what decodeEntries reads, gives the index of each joined flag, and
// checks the whole buffer before calling fn once.
func TestJoinBufferLayout(t *testing.T) {
	var b []byte
	want := []joinEntry{{joined: false, value: []byte("a")}, {joined: true, value: bytes.Repeat([]byte("b"), 200)}, {value: []byte{}}}
	for _, e := range want {
		b = appendEntry(b, e.joined, e.value)
	}
	got, err := decodeEntries(b, "t")
	if err != nil || len(got) != len(want) {
		t.Fatalf("decodeEntries: %v, %v", got, err)
	}
	i := 0
	err = walkEntries(b, "t", func(flag int, v []byte) error {
		if (b[flag] == 1) != want[i].joined || !bytes.Equal(v, want[i].value) {
			t.Fatalf("entry %d: flag %d value %q", i, b[flag], v)
		}
		i++
		return nil
	})
	if err != nil || i != len(want) {
		t.Fatalf("walkEntries: %d entries, %v", i, err)
	}
	for n := 1; n < len(b); n++ {
		if _, err := decodeEntries(b[:n], "t"); err == nil {
			continue // a cut between entries is a shorter buffer
		}
		called := false
		err := walkEntries(b[:n], "t", func(int, []byte) error { called = true; return nil })
		if !errors.Is(err, ErrStore) || called {
			t.Fatalf("%d of %d bytes: err %v, fn called %v", n, len(b), err, called)
		}
	}
}
