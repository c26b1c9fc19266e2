package profile

import (
	"encoding/json"
	"fmt"

	"github.com/weirstream/weir/codec"
)

// formatV1 is the first byte of every value the state serdes write: the
// binary layout of this version. A later layout takes another byte and
// the decoder keeps reading this one. JSON (what versions before the
// binary encodings wrote, to stores and changelogs) starts with '{' or
// white space, and the Confluent wire format with byte 0, so neither is
// mistaken for it.
const formatV1 byte = 1

// stateSerde is the serde of an internal store's values: Encode writes
// formatV1 and the binary layout; Decode reads it, the JSON older
// versions wrote, and, if framed is set, the Confluent wire format.
type stateSerde[T any] struct {
	what string // for errors: "stored profile"
	size int    // initial capacity of an encoding
	// Values, not pointers: a pointer passed to a func value escapes,
	// and would cost an allocation per call.
	append func([]byte, T) []byte
	read   func(reader) (T, reader)
	framed codec.Serde[T]
}

func (s stateSerde[T]) Encode(_ string, v T) ([]byte, error) {
	return s.append(append(make([]byte, 0, s.size), formatV1), v), nil
}

func (s stateSerde[T]) Decode(topic string, b []byte) (T, error) {
	var zero T
	if len(b) == 0 {
		return zero, fmt.Errorf("%w: %s: empty %s", codec.ErrMalformed, topic, s.what)
	}
	switch b[0] {
	case formatV1:
		v, r := s.read(newReader(b[1:]))
		if r.err == nil && len(r.b) != 0 {
			r.err = fmt.Errorf("%d trailing bytes", len(r.b))
		}
		if r.err != nil {
			return zero, fmt.Errorf("%w: %s: %s (format %d): %v", codec.ErrMalformed, topic, s.what, b[0], r.err)
		}
		return v, nil
	case '{', ' ', '\t', '\r', '\n':
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return zero, fmt.Errorf("%w: %s: %s (JSON): %v", codec.ErrMalformed, topic, s.what, err)
		}
		return v, nil
	case codec.WireMagic:
		if s.framed != nil {
			return s.framed.Decode(topic, b)
		}
	}
	return zero, fmt.Errorf("%w: %s: %s: unknown format byte %#x", codec.ErrMalformed, topic, s.what, b[0])
}
