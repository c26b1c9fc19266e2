// Package codec turns typed values into Kafka record bytes and back.
//
// A Serde is given the topic so that registry-backed formats can pick a
// subject name; formats that do not care ignore it.
package codec

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Serde encodes values of type T to bytes and decodes them back.
//
// Implementations must be safe for concurrent use: one Serde value is
// shared by every task of a worker. Decode must not retain data after it
// returns; the caller may reuse the slice.
type Serde[T any] interface {
	Encode(topic string, v T) ([]byte, error)
	Decode(topic string, data []byte) (T, error)
}

// Appender is implemented by serdes that can also encode into a caller's
// buffer. A caller that does not keep the bytes (a store lookup) reuses
// one buffer and encodes without allocating.
type Appender[T any] interface {
	AppendEncode(dst []byte, topic string, v T) ([]byte, error)
}

// ErrMalformed wraps every decode error caused by the bytes themselves
// (as opposed to an outage), so callers can route them to a dead-letter
// topic with errors.Is.
var ErrMalformed = errors.New("codec: malformed record")

// String is a UTF-8 string serde. Bytes are not validated.
func String() Serde[string] { return stringSerde{} }

type stringSerde struct{}

func (stringSerde) Encode(_ string, v string) ([]byte, error) { return []byte(v), nil }
func (stringSerde) Decode(_ string, b []byte) (string, error) { return string(b), nil }
func (stringSerde) AppendEncode(dst []byte, _ string, v string) ([]byte, error) {
	return append(dst, v...), nil
}

// PlainString is String for keys that are plain text, such as customer
// ids: Decode refuses bytes in the Confluent wire format (magic byte 0 and
// a 4-byte schema id), with an error wrapping ErrFramedKey and
// ErrMalformed, so a record whose producer wrote an Avro (or other
// registry-framed) key where plain text is expected is dead-lettered
// instead of naming a new, garbled key. No text id starts with a NUL byte.
func PlainString() Serde[string] { return plainStringSerde{} }

type plainStringSerde struct{}

func (plainStringSerde) Encode(_ string, v string) ([]byte, error) { return []byte(v), nil }
func (plainStringSerde) AppendEncode(dst []byte, _ string, v string) ([]byte, error) {
	return append(dst, v...), nil
}
func (plainStringSerde) Decode(topic string, b []byte) (string, error) {
	if len(b) >= WireHeaderLen && b[0] == WireMagic {
		return "", fmt.Errorf("%w: %w: topic %s: key starts with the Confluent header (schema id %d); declare the key format the producer uses",
			ErrMalformed, ErrFramedKey, topic, binary.BigEndian.Uint32(b[1:WireHeaderLen]))
	}
	return string(b), nil
}

// ForTopics is in on the given topics and internal on every other topic a
// serde is asked about: state stores, changelogs, repartition topics. Use
// it to read registry-framed inputs while keeping internal topics free of
// registry subjects (and of registry calls).
func ForTopics[T any](in Serde[T], internal Serde[T], topics ...string) Serde[T] {
	m := make(map[string]bool, len(topics))
	for _, t := range topics {
		m[t] = true
	}
	return forTopics[T]{in: in, internal: internal, topics: m}
}

type forTopics[T any] struct {
	in, internal Serde[T]
	topics       map[string]bool
}

func (f forTopics[T]) pick(topic string) Serde[T] {
	if f.topics[topic] {
		return f.in
	}
	return f.internal
}

func (f forTopics[T]) Encode(topic string, v T) ([]byte, error) {
	return f.pick(topic).Encode(topic, v)
}
func (f forTopics[T]) Decode(topic string, b []byte) (T, error) {
	return f.pick(topic).Decode(topic, b)
}

// JSONOrFramed encodes T as JSON and decodes JSON, or, for bytes in the
// Confluent wire format (JSON never starts with byte 0), with framed. It
// moves a store off a registry-backed serde: its changelog needs no
// subject from now on, and values an earlier version wrote still read.
func JSONOrFramed[T any](framed Serde[T]) Serde[T] { return jsonOrFramed[T]{framed} }

type jsonOrFramed[T any] struct{ framed Serde[T] }

func (s jsonOrFramed[T]) Encode(topic string, v T) ([]byte, error) {
	return jsonSerde[T]{}.Encode(topic, v)
}

func (s jsonOrFramed[T]) Decode(topic string, b []byte) (T, error) {
	if len(b) > 0 && b[0] == WireMagic {
		return s.framed.Decode(topic, b)
	}
	return jsonSerde[T]{}.Decode(topic, b)
}

// Bytes passes bytes through. Decode copies, because callers may reuse
// the input slice.
func Bytes() Serde[[]byte] { return bytesSerde{} }

type bytesSerde struct{}

func (bytesSerde) Encode(_ string, v []byte) ([]byte, error) { return v, nil }
func (bytesSerde) Decode(_ string, b []byte) ([]byte, error) {
	return append([]byte(nil), b...), nil
}

// Int64 is a big-endian 8-byte integer, the layout of Kafka's LongSerde,
// so keys sort numerically for non-negative values.
func Int64() Serde[int64] { return int64Serde{} }

type int64Serde struct{}

func (int64Serde) Encode(_ string, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(v)), nil
}

func (int64Serde) Decode(_ string, b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: int64 needs 8 bytes, got %d", ErrMalformed, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// JSON encodes T with encoding/json.
func JSON[T any]() Serde[T] { return jsonSerde[T]{} }

type jsonSerde[T any] struct{}

func (jsonSerde[T]) Encode(_ string, v T) ([]byte, error) { return json.Marshal(v) }
func (jsonSerde[T]) Decode(_ string, b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("%w: json: %v", ErrMalformed, err)
	}
	return v, nil
}
