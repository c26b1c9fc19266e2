package avro

import (
	"context"
	"errors"
	"fmt"
	"github.com/weirstream/weir/codec"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/avro"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// RegistryClient is raw access to a Confluent-compatible schema registry.
// NewHTTPRegistryClient gives one; tests may supply their own.
//
// Implementations report a definitive "not found" by wrapping
// ErrUnknownSchema (SchemaByID) or ErrNotRegistered (LookupID). Every other
// error counts as an outage and is retried by Registry.
type RegistryClient interface {
	// SchemaByID returns the schema text with the given id.
	SchemaByID(ctx context.Context, id uint32) (string, error)
	// LookupID returns the id of schema under subject.
	LookupID(ctx context.Context, subject, schema string) (uint32, error)
	// Register registers schema under subject (a no-op returning the
	// existing id if it is there already) and returns its id.
	Register(ctx context.Context, subject, schema string) (uint32, error)
}

// Registry caches schemas and ids from a RegistryClient and retries it
// with capped exponential backoff. Share one per process: every Avro
// serde built on it shares its cache. Schemas and ids never change in a
// registry, so cached entries never expire; known ids keep working during
// a registry outage.
type Registry struct {
	client RegistryClient
	cfg    registryConfig
	log    *zap.Logger

	mu      sync.RWMutex
	byID    map[uint32]writerEntry
	ids     map[subjectSchema]uint32
	unknown map[uint32]time.Time // ids the registry said do not exist -> forget at
	flight  singleflight.Group
}

type writerEntry struct {
	schema *avro.Schema
	err    error // the schema text is not usable Avro
}

type subjectSchema struct{ subject, schema string }

type registryConfig struct {
	retry      backoff
	ctxTimeout time.Duration // bound on the tries of a context-aware call
	unknownTTL time.Duration
	log        *zap.Logger
	now        func() time.Time
}

// RegistryOpt configures NewRegistry.
type RegistryOpt interface{ applyRegistry(*registryConfig) }

type registryOpt func(*registryConfig)

func (f registryOpt) applyRegistry(c *registryConfig) { f(c) }

// RetryBackoff sets the wait before the first retry of a registry call and
// the cap it doubles up to. Default 50ms and 2s.
func RetryBackoff(initial, max time.Duration) RegistryOpt {
	return registryOpt(func(c *registryConfig) { c.retry.initial, c.retry.max = initial, max })
}

// RetryAttempts sets how many times a registry call is tried in all, 1
// meaning no retry. Default 6.
func RetryAttempts(n int) RegistryOpt {
	return registryOpt(func(c *registryConfig) { c.retry.attempts = n })
}

// RetryTimeout bounds the time spent on one registry lookup, retries
// included; 0 means only RetryAttempts bounds it. Default 10s. Serde
// methods take no context, so this is what bounds a Decode that meets an
// outage.
func RetryTimeout(d time.Duration) RegistryOpt {
	return registryOpt(func(c *registryConfig) { c.retry.timeout = d })
}

// ContextRetryTimeout bounds the time spent on one registry lookup made
// through the serde's context-aware methods (DecodeContext,
// EncodeContext), retries included; RetryTimeout still applies. The task
// core uses those: when they fail with ErrRegistryUnavailable the runtime
// pauses the task and retries it with its own backoff while the worker's
// other tasks go on. So they try an unreachable registry once, bounded by
// this (a registry that hangs holds the worker's loop this long), and
// retry only an id the registry says it does not have (a replica may lag).
// Default 500ms.
func ContextRetryTimeout(d time.Duration) RegistryOpt {
	return registryOpt(func(c *registryConfig) { c.ctxTimeout = d })
}

// UnknownIDTTL sets how long an id the registry reported as missing is
// remembered, so a stream of records with a bogus id does not pay the
// retries for each record. 0 disables it. Default 5m.
func UnknownIDTTL(d time.Duration) RegistryOpt {
	return registryOpt(func(c *registryConfig) { c.unknownTTL = d })
}

// RegistryLogger sets the logger for retries and outages. Default: none.
func RegistryLogger(l *zap.Logger) RegistryOpt {
	return registryOpt(func(c *registryConfig) { c.log = l })
}

// NewRegistry returns a caching, retrying Registry over client.
func NewRegistry(client RegistryClient, opts ...RegistryOpt) (*Registry, error) {
	if client == nil {
		return nil, errors.New("codec: NewRegistry: client is nil; use NewHTTPRegistryClient(url)")
	}
	cfg := registryConfig{
		retry:      backoff{initial: 50 * time.Millisecond, max: 2 * time.Second, attempts: 6, timeout: 10 * time.Second},
		ctxTimeout: 500 * time.Millisecond,
		unknownTTL: 5 * time.Minute,
		log:        zap.NewNop(),
		now:        time.Now,
	}
	for _, o := range opts {
		o.applyRegistry(&cfg)
	}
	switch {
	case cfg.retry.initial <= 0:
		return nil, fmt.Errorf("codec: RetryBackoff initial %v must be > 0", cfg.retry.initial)
	case cfg.retry.max < cfg.retry.initial:
		return nil, fmt.Errorf("codec: RetryBackoff max %v must be >= initial %v", cfg.retry.max, cfg.retry.initial)
	case cfg.retry.attempts < 1:
		return nil, fmt.Errorf("codec: RetryAttempts(%d) must be >= 1 (1 means no retry)", cfg.retry.attempts)
	case cfg.retry.timeout < 0:
		return nil, fmt.Errorf("codec: RetryTimeout(%v) must be >= 0 (0 means no time bound)", cfg.retry.timeout)
	case cfg.ctxTimeout <= 0:
		return nil, fmt.Errorf("codec: ContextRetryTimeout(%v) must be > 0", cfg.ctxTimeout)
	case cfg.unknownTTL < 0:
		return nil, fmt.Errorf("codec: UnknownIDTTL(%v) must be >= 0 (0 disables it)", cfg.unknownTTL)
	case cfg.log == nil:
		return nil, errors.New("codec: RegistryLogger(nil); pass zap.NewNop() to disable logging")
	}
	return &Registry{
		client:  client,
		cfg:     cfg,
		log:     cfg.log,
		byID:    make(map[uint32]writerEntry),
		ids:     make(map[subjectSchema]uint32),
		unknown: make(map[uint32]time.Time),
	}, nil
}

// writerSchema returns the parsed schema with id, from cache or registry.
// Errors wrap ErrUnknownSchema or ErrIncompatibleSchema (both with
// ErrMalformed), or ErrRegistryUnavailable.
func (r *Registry) writerSchema(ctx context.Context, b backoff, id uint32) (*avro.Schema, error) {
	r.mu.RLock()
	e, ok := r.byID[id]
	until, missing := r.unknown[id]
	r.mu.RUnlock()
	if ok {
		return e.schema, e.err
	}
	if missing && r.cfg.now().Before(until) {
		return nil, fmt.Errorf("%w: %w: id %d (registry said so recently)", codec.ErrMalformed, codec.ErrUnknownSchema, id)
	}
	v, err, _ := r.flight.Do("id:"+strconv.FormatUint(uint64(id), 10), func() (any, error) {
		r.mu.RLock()
		e, ok := r.byID[id]
		r.mu.RUnlock()
		if ok { // a flight that just ended filled it
			return e, nil
		}
		var text string
		err := retry(ctx, b, b.retryable, func(ctx context.Context) error {
			var err error
			text, err = r.client.SchemaByID(ctx, id)
			return err
		})
		switch {
		case errors.Is(err, codec.ErrUnknownSchema):
			if r.cfg.unknownTTL > 0 {
				r.mu.Lock()
				r.unknown[id] = r.cfg.now().Add(r.cfg.unknownTTL)
				r.mu.Unlock()
			}
			return nil, fmt.Errorf("%w: %w", codec.ErrMalformed, err)
		case err != nil:
			r.log.Warn("schema registry unavailable", zap.Uint32("schema_id", id), zap.Error(err))
			return nil, outage(err)
		}
		s, perr := avro.Parse(text)
		e = writerEntry{schema: s}
		if perr != nil {
			e.err = fmt.Errorf("%w: %w: schema id %d is not usable Avro: %v", codec.ErrMalformed, codec.ErrIncompatibleSchema, id, perr)
		}
		r.mu.Lock()
		r.byID[id] = e
		delete(r.unknown, id)
		r.mu.Unlock()
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	e = v.(writerEntry)
	return e.schema, e.err
}

// schemaID returns the id of schema under subject, registering it if
// register is set. parsed, if not nil, is cached as the id's writer schema.
func (r *Registry) schemaID(ctx context.Context, b backoff, subject, schema string, parsed *avro.Schema, register bool) (uint32, error) {
	key := subjectSchema{subject, schema}
	r.mu.RLock()
	id, ok := r.ids[key]
	r.mu.RUnlock()
	if ok {
		return id, nil
	}
	v, err, _ := r.flight.Do("subject:"+strconv.FormatBool(register)+":"+subject+"\x00"+schema, func() (any, error) {
		r.mu.RLock()
		id, ok := r.ids[key]
		r.mu.RUnlock()
		if ok { // a flight that just ended filled it
			return id, nil
		}
		err := retry(ctx, b, b.retryable, func(ctx context.Context) error {
			var err error
			if register {
				id, err = r.client.Register(ctx, subject, schema)
			} else {
				id, err = r.client.LookupID(ctx, subject, schema)
			}
			return err
		})
		switch {
		case errors.Is(err, codec.ErrNotRegistered):
			return uint32(0), fmt.Errorf("%w (subject %q); register it, or build the serde with AutoRegister()", err, subject)
		case err != nil:
			r.log.Warn("schema registry unavailable", zap.String("subject", subject), zap.Error(err))
			return uint32(0), outage(err)
		}
		r.mu.Lock()
		r.ids[key] = id
		if _, ok := r.byID[id]; !ok && parsed != nil {
			r.byID[id] = writerEntry{schema: parsed}
		}
		r.mu.Unlock()
		return id, nil
	})
	return v.(uint32), err
}

// budget is the retry policy of a call: the configured one, or for a
// context-aware call one bounded by ContextRetryTimeout as well.
func (r *Registry) budget(withCtx bool) backoff {
	b := r.cfg.retry
	if withCtx {
		b.outageOnce = true
		if b.timeout == 0 || r.cfg.ctxTimeout < b.timeout {
			b.timeout = r.cfg.ctxTimeout
		}
	}
	return b
}

// retryable says whether to try again after err under b.
func (b backoff) retryable(err error) bool {
	if b.outageOnce {
		return errors.Is(err, codec.ErrUnknownSchema) && !errors.Is(err, context.Canceled)
	}
	return retryable(err)
}

// retryable: an unknown id may be a registry replica that has not caught
// up yet, so it is retried like an outage. A subject without our schema is
// a configuration error and a cancelled context is final: no retry.
func retryable(err error) bool {
	return !errors.Is(err, context.Canceled) && !errors.Is(err, codec.ErrNotRegistered)
}

func outage(err error) error {
	if errors.Is(err, codec.ErrRegistryUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", codec.ErrRegistryUnavailable, err)
}

// LatestClient is a RegistryClient that also returns a subject's latest
// schema, as NewHTTPRegistryClient's does. A missing subject wraps
// ErrNotRegistered.
type LatestClient interface {
	Latest(ctx context.Context, subject string) (id uint32, schema string, err error)
}

// Latest returns the id and text of subject's latest schema, for a
// producer that writes whatever version the registry holds now (the
// collector). It is not cached, since a subject gains versions; callers
// cache it for as long as they like. Outages are retried like other
// calls and wrap ErrRegistryUnavailable; a subject with no schema wraps
// ErrNotRegistered.
func (r *Registry) Latest(ctx context.Context, subject string) (uint32, string, error) {
	lc, ok := r.client.(LatestClient)
	if !ok {
		return 0, "", fmt.Errorf("codec: registry client %T cannot look up a subject's latest schema", r.client)
	}
	var id uint32
	var text string
	err := retry(ctx, r.budget(true), retryable, func(ctx context.Context) error {
		var err error
		id, text, err = lc.Latest(ctx, subject)
		return err
	})
	switch {
	case errors.Is(err, codec.ErrNotRegistered):
		return 0, "", fmt.Errorf("%w: subject %q has no schema", err, subject)
	case err != nil:
		return 0, "", outage(err)
	}
	return id, text, nil
}
