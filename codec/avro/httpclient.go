package avro

import (
	"context"
	"errors"
	"fmt"
	"github.com/weirstream/weir/codec"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/riferrei/srclient"
)

// HTTPClientOpt configures NewHTTPRegistryClient.
type HTTPClientOpt interface{ applyHTTP(*httpClientConfig) }

type httpClientConfig struct {
	timeout          time.Duration
	user, pass       string
	bearer           string
	transport        http.RoundTripper
	maxConcurrentReq int64
}

type httpOpt func(*httpClientConfig)

func (f httpOpt) applyHTTP(c *httpClientConfig) { f(c) }

// RequestTimeout bounds one HTTP request to the registry. Default 10s.
func RequestTimeout(d time.Duration) HTTPClientOpt {
	return httpOpt(func(c *httpClientConfig) { c.timeout = d })
}

// BasicAuth authenticates with a user name and password (Confluent Cloud:
// API key and secret).
func BasicAuth(user, password string) HTTPClientOpt {
	return httpOpt(func(c *httpClientConfig) { c.user, c.pass = user, password })
}

// BearerToken authenticates with an OAuth bearer token.
func BearerToken(token string) HTTPClientOpt {
	return httpOpt(func(c *httpClientConfig) { c.bearer = token })
}

// Transport sets the HTTP transport, e.g. for TLS settings. Default
// http.DefaultTransport.
func Transport(rt http.RoundTripper) HTTPClientOpt {
	return httpOpt(func(c *httpClientConfig) { c.transport = rt })
}

// MaxConcurrentRequests caps requests in flight to the registry. Default 16.
func MaxConcurrentRequests(n int) HTTPClientOpt {
	return httpOpt(func(c *httpClientConfig) { c.maxConcurrentReq = int64(n) })
}

// NewHTTPRegistryClient returns a client for the Confluent-compatible
// schema registry at baseURL (e.g. "http://localhost:8081").
func NewHTTPRegistryClient(baseURL string, opts ...HTTPClientOpt) (RegistryClient, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("codec: registry URL %q must be http(s)://host[:port][/path]", baseURL)
	}
	cfg := httpClientConfig{timeout: 10 * time.Second, transport: http.DefaultTransport, maxConcurrentReq: 16}
	for _, o := range opts {
		o.applyHTTP(&cfg)
	}
	switch {
	case cfg.timeout <= 0:
		return nil, fmt.Errorf("codec: RequestTimeout(%v) must be > 0", cfg.timeout)
	case cfg.transport == nil:
		return nil, errors.New("codec: Transport(nil); omit the option for the default transport")
	case cfg.maxConcurrentReq < 1:
		return nil, fmt.Errorf("codec: MaxConcurrentRequests(%d) must be >= 1", cfg.maxConcurrentReq)
	case cfg.bearer != "" && cfg.user != "":
		return nil, errors.New("codec: use BasicAuth or BearerToken, not both")
	}
	c := srclient.NewSchemaRegistryClient(u.String(),
		srclient.WithClient(&http.Client{Timeout: cfg.timeout, Transport: cfg.transport}),
		srclient.WithSemaphoreWeight(cfg.maxConcurrentReq))
	c.CachingEnabled(false) // Registry caches; one cache, one truth.
	if cfg.user != "" {
		c.SetCredentials(cfg.user, cfg.pass)
	}
	if cfg.bearer != "" {
		c.SetBearerToken(cfg.bearer)
	}
	return &httpRegistry{c: c}, nil
}

// httpRegistry adapts srclient, which takes no context: calls run in a
// goroutine that ctx can abandon; RequestTimeout bounds the goroutine.
type httpRegistry struct {
	c *srclient.SchemaRegistryClient
}

// Confluent error codes that mean "not found" for good.
const (
	srSubjectNotFound = 40401
	srVersionNotFound = 40402
	srSchemaNotFound  = 40403
)

func (h *httpRegistry) SchemaByID(ctx context.Context, id uint32) (string, error) {
	if id > math.MaxInt32 {
		return "", fmt.Errorf("%w: id %d is out of the registry's range", codec.ErrUnknownSchema, id)
	}
	s, err := call(ctx, func() (*srclient.Schema, error) { return h.c.GetSchema(int(id)) })
	if err != nil {
		if code := srCode(err); code == srSchemaNotFound || code == http.StatusNotFound {
			return "", fmt.Errorf("%w: id %d: %v", codec.ErrUnknownSchema, id, err)
		}
		return "", err
	}
	if t := s.SchemaType(); t != nil && *t != "" && *t != srclient.Avro {
		return "", fmt.Errorf("%w: id %d has schema type %s, not AVRO", codec.ErrUnknownSchema, id, *t)
	}
	return s.Schema(), nil
}

func (h *httpRegistry) LookupID(ctx context.Context, subject, schema string) (uint32, error) {
	s, err := call(ctx, func() (*srclient.Schema, error) { return h.c.LookupSchema(subject, schema, srclient.Avro) })
	if err != nil {
		switch srCode(err) {
		case srSubjectNotFound, srVersionNotFound, srSchemaNotFound, http.StatusNotFound:
			return 0, fmt.Errorf("%w: %v", codec.ErrNotRegistered, err)
		}
		return 0, err
	}
	return checkID(s.ID())
}

func (h *httpRegistry) Register(ctx context.Context, subject, schema string) (uint32, error) {
	s, err := call(ctx, func() (*srclient.Schema, error) { return h.c.CreateSchema(subject, schema, srclient.Avro) })
	if err != nil {
		return 0, err
	}
	return checkID(s.ID())
}

func (h *httpRegistry) Latest(ctx context.Context, subject string) (uint32, string, error) {
	s, err := call(ctx, func() (*srclient.Schema, error) { return h.c.GetLatestSchema(subject) })
	if err != nil {
		switch srCode(err) {
		case srSubjectNotFound, srVersionNotFound, http.StatusNotFound:
			return 0, "", fmt.Errorf("%w: %v", codec.ErrNotRegistered, err)
		}
		return 0, "", err
	}
	if t := s.SchemaType(); t != nil && *t != "" && *t != srclient.Avro {
		return 0, "", fmt.Errorf("codec: subject %q has schema type %s, not AVRO", subject, *t)
	}
	id, err := checkID(s.ID())
	return id, s.Schema(), err
}

func checkID(id int) (uint32, error) {
	if id < 0 || id > math.MaxInt32 {
		return 0, fmt.Errorf("codec: registry returned schema id %d, out of range", id)
	}
	return uint32(id), nil
}

// srCode returns the registry's error code, or 0.
func srCode(err error) int {
	var e srclient.Error
	if errors.As(err, &e) {
		return e.Code
	}
	var pe *srclient.Error
	if errors.As(err, &pe) && pe != nil {
		return pe.Code
	}
	return 0
}

func call(ctx context.Context, fn func() (*srclient.Schema, error)) (*srclient.Schema, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type result struct {
		s   *srclient.Schema
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := fn()
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
