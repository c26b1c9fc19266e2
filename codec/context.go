package codec

import "context"

// ContextSerde is a Serde whose calls may block, on a schema registry say,
// and can be cut short by a context. It is optional: the task core calls
// these methods when a Serde has them (see DecodeContext), with the
// worker's context, so that stopping a worker never waits on a registry.
// Serde itself keeps its context-free methods, so every Serde written
// before stays valid.
type ContextSerde[T any] interface {
	Serde[T]
	EncodeContext(ctx context.Context, topic string, v T) ([]byte, error)
	DecodeContext(ctx context.Context, topic string, data []byte) (T, error)
}

// DecodeContext decodes with s.DecodeContext if s is a ContextSerde, else
// with s.Decode.
func DecodeContext[T any](ctx context.Context, s Serde[T], topic string, data []byte) (T, error) {
	if cs, ok := s.(ContextSerde[T]); ok {
		return cs.DecodeContext(ctx, topic, data)
	}
	return s.Decode(topic, data)
}

// EncodeContext encodes with s.EncodeContext if s is a ContextSerde, else
// with s.Encode.
func EncodeContext[T any](ctx context.Context, s Serde[T], topic string, v T) ([]byte, error) {
	if cs, ok := s.(ContextSerde[T]); ok {
		return cs.EncodeContext(ctx, topic, v)
	}
	return s.Encode(topic, v)
}
