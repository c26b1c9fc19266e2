package codec

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzParseWire(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 1, 2, 'h', 'i'})
	f.Add([]byte{1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, payload, err := ParseWire(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// A parse that succeeds must re-frame to the same bytes.
		if again := append(AppendWireHeader(nil, id), payload...); !bytes.Equal(again, b) {
			t.Fatalf("re-framed %x, input %x", again, b)
		}
	})
}

// fuzzSchema covers the decoder's hard cases: unions, arrays, maps, enums,
// nested records, logical timestamps.
