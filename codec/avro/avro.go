// Package avro is the Avro serde in the Confluent wire format and the
// schema registry client behind it. It is kept apart from codec so that a
// topology that only names Serde values does not pull in HTTP.
package avro

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/avro"

	"github.com/weirstream/weir/codec"
)

// Serde implements codec.ContextSerde, so the task core can cut its
// registry calls short.
var _ codec.ContextSerde[struct{}] = (*Serde[struct{}])(nil)

// Opt configures Avro.
type Opt interface{ applyAvro(*avroConfig) }

type avroConfig struct {
	strategy     SubjectNameStrategy
	isKey        bool
	autoRegister bool
	maxBytes     int
}

type avroOpt func(*avroConfig)

func (f avroOpt) applyAvro(c *avroConfig) { f(c) }

// SubjectStrategy sets how Encode names the registry subject. Default
// TopicName.
func SubjectStrategy(s SubjectNameStrategy) Opt {
	return avroOpt(func(c *avroConfig) { c.strategy = s })
}

// ForKeys marks the serde as a record-key serde: TopicName uses the
// "<topic>-key" subject. Default: value serde.
func ForKeys() Opt { return avroOpt(func(c *avroConfig) { c.isKey = true }) }

// AutoRegister lets Encode register the schema under its subject when it
// is not there yet. Default off: Encode looks the schema up and fails with
// ErrNotRegistered if it is missing, so that schemas are governed by
// whoever owns the registry, not by whichever producer starts first.
func AutoRegister() Opt { return avroOpt(func(c *avroConfig) { c.autoRegister = true }) }

// MaxRecordBytes caps the size of a framed record; Decode rejects larger
// input before parsing it (ErrTooLarge with ErrMalformed) and Encode
// rejects larger output (ErrTooLarge). 0 means no cap. Default 4 MiB.
func MaxRecordBytes(n int) Opt { return avroOpt(func(c *avroConfig) { c.maxBytes = n }) }

// Serde is a Serde[T] for Avro in the Confluent wire format, backed by
// a schema registry. Build it with Avro. It is safe for concurrent use.
type Serde[T any] struct {
	reg      *Registry
	reader   *avro.Schema
	text     string
	fullName string
	cfg      avroConfig

	// Copy-on-write maps: reads are lock-free and allocation-free (a
	// sync.Map would box every key); writes happen once per id or topic.
	mu       sync.Mutex
	readers  atomic.Pointer[map[uint32]resolvedReader] // by writer schema id
	ids      atomic.Pointer[map[string]uint32]         // topic -> schema id
	sizeHint atomic.Int64
}

// cowStore adds k=v to the copy-on-write map in p. Call with mu held.
func cowStore[K comparable, V any](p *atomic.Pointer[map[K]V], k K, v V) {
	var m map[K]V
	if old := p.Load(); old != nil {
		m = make(map[K]V, len(*old)+1)
		for ok, ov := range *old {
			m[ok] = ov
		}
	} else {
		m = make(map[K]V, 1)
	}
	m[k] = v
	p.Store(&m)
}

func cowLoad[K comparable, V any](p *atomic.Pointer[map[K]V], k K) (V, bool) {
	if m := p.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

type resolvedReader struct {
	schema *avro.Schema
	err    error
}

// Avro returns a serde for T with the given reader/writer schema (Avro
// JSON). Encode writes with this schema; Decode reads records written with
// any schema the registry knows that resolves into it (fields added with
// defaults, fields removed, int→long and other promotions, aliases).
//
// T's fields map to the schema's fields by `avro:"name"` struct tags.
func New[T any](reg *Registry, schema string, opts ...Opt) (*Serde[T], error) {
	if reg == nil {
		return nil, errors.New("codec: Avro: registry is nil; build one with NewRegistry")
	}
	parsed, err := avro.Parse(schema)
	if err != nil {
		return nil, fmt.Errorf("codec: Avro: the schema does not parse: %w", err)
	}
	cfg := avroConfig{strategy: TopicName, maxBytes: 4 << 20}
	for _, o := range opts {
		o.applyAvro(&cfg)
	}
	root := parsed.Root()
	full := root.Name
	if full != "" && root.Namespace != "" && !strings.Contains(full, ".") {
		full = root.Namespace + "." + full
	}
	switch {
	case cfg.strategy < TopicName || cfg.strategy > TopicRecordName:
		return nil, fmt.Errorf("codec: Avro: unknown %v; use TopicName, RecordName or TopicRecordName", cfg.strategy)
	case cfg.strategy != TopicName && full == "":
		return nil, fmt.Errorf("codec: Avro: %v needs a named schema (record, enum or fixed), got %q; use TopicName", cfg.strategy, root.Type)
	case cfg.maxBytes < 0:
		return nil, fmt.Errorf("codec: Avro: MaxRecordBytes(%d) must be >= 0 (0 means no cap)", cfg.maxBytes)
	case cfg.maxBytes > 0 && cfg.maxBytes < codec.WireHeaderLen:
		return nil, fmt.Errorf("codec: Avro: MaxRecordBytes(%d) is below the %d-byte header", cfg.maxBytes, codec.WireHeaderLen)
	}
	return &Serde[T]{reg: reg, reader: parsed, text: schema, fullName: full, cfg: cfg}, nil
}

// Schema returns the serde's schema text.
func (s *Serde[T]) Schema() string { return s.text }

// Subject returns the registry subject Encode uses for topic.
func (s *Serde[T]) Subject(topic string) string {
	return s.cfg.strategy.Subject(topic, s.cfg.isKey, s.fullName)
}

func (s *Serde[T]) schemaID(ctx context.Context, b backoff, topic string) (uint32, error) {
	if id, ok := cowLoad(&s.ids, topic); ok {
		return id, nil
	}
	id, err := s.reg.schemaID(ctx, b, s.Subject(topic), s.text, s.reader, s.cfg.autoRegister)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	cowStore(&s.ids, topic, id)
	s.mu.Unlock()
	return id, nil
}

// Encode frames v with the schema's id under the subject for topic.
// Errors wrap ErrInvalidValue, ErrTooLarge, ErrNotRegistered or
// ErrRegistryUnavailable. A registry lookup is bounded by RetryTimeout.
func (s *Serde[T]) Encode(topic string, v T) ([]byte, error) {
	return s.encode(context.Background(), s.reg.budget(false), topic, v)
}

// EncodeContext is Encode with a registry lookup that ends with ctx, and
// within ContextRetryTimeout (codec.ContextSerde).
func (s *Serde[T]) EncodeContext(ctx context.Context, topic string, v T) ([]byte, error) {
	return s.encode(ctx, s.reg.budget(true), topic, v)
}

func (s *Serde[T]) encode(ctx context.Context, bo backoff, topic string, v T) ([]byte, error) {
	id, err := s.schemaID(ctx, bo, topic)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, max(s.sizeHint.Load(), 64))
	b = codec.AppendWireHeader(b, id)
	b, err = s.reader.AppendEncode(b, &v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", codec.ErrInvalidValue, err)
	}
	if s.cfg.maxBytes > 0 && len(b) > s.cfg.maxBytes {
		return nil, fmt.Errorf("%w: encoded %d bytes, MaxRecordBytes is %d", codec.ErrTooLarge, len(b), s.cfg.maxBytes)
	}
	s.sizeHint.Store(int64(len(b)))
	return b, nil
}

// Decode reads a Confluent-framed record into a T. Errors wrap
// ErrMalformed (bad bytes, ErrUnknownSchema, ErrIncompatibleSchema,
// ErrTooLarge: dead-letter them) or ErrRegistryUnavailable (an outage:
// retry or stop). A registry lookup is bounded by RetryTimeout.
func (s *Serde[T]) Decode(_ string, data []byte) (T, error) {
	return s.decode(context.Background(), s.reg.budget(false), data)
}

// DecodeContext is Decode with a registry lookup that ends with ctx, and
// within ContextRetryTimeout (codec.ContextSerde). An ended ctx gives
// ErrRegistryUnavailable, never ErrMalformed: the record is not at fault.
func (s *Serde[T]) DecodeContext(ctx context.Context, _ string, data []byte) (T, error) {
	return s.decode(ctx, s.reg.budget(true), data)
}

func (s *Serde[T]) decode(ctx context.Context, bo backoff, data []byte) (T, error) {
	var v T
	if s.cfg.maxBytes > 0 && len(data) > s.cfg.maxBytes {
		return v, fmt.Errorf("%w: %w: %d bytes, MaxRecordBytes is %d", codec.ErrMalformed, codec.ErrTooLarge, len(data), s.cfg.maxBytes)
	}
	id, payload, err := codec.ParseWire(data)
	if err != nil {
		return v, err
	}
	r, err := s.resolved(ctx, bo, id)
	if err != nil {
		return v, err
	}
	rest, err := r.Decode(payload, &v)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%w: schema id %d: %v", codec.ErrMalformed, id, err)
	}
	if len(rest) != 0 {
		var zero T
		return zero, fmt.Errorf("%w: schema id %d: %d bytes after the end of the value", codec.ErrMalformed, id, len(rest))
	}
	return v, nil
}

// resolved returns the reader for records written with schema id, cached
// per id. Outages are not cached; incompatibility is.
func (s *Serde[T]) resolved(ctx context.Context, bo backoff, id uint32) (*avro.Schema, error) {
	if rr, ok := cowLoad(&s.readers, id); ok {
		return rr.schema, rr.err
	}
	w, err := s.reg.writerSchema(ctx, bo, id)
	if err != nil {
		return nil, err
	}
	rs, err := avro.Resolve(w, s.reader)
	rr := resolvedReader{schema: rs}
	if err != nil {
		rr.err = fmt.Errorf("%w: %w: schema id %d: %v", codec.ErrMalformed, codec.ErrIncompatibleSchema, id, err)
	}
	s.mu.Lock()
	cowStore(&s.readers, id, rr)
	s.mu.Unlock()
	return rr.schema, rr.err
}
