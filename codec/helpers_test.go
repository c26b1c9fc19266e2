package codec_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"
	"github.com/weirstream/weir/codec"
)

// countingClient counts calls that reach the registry client.
type countingClient struct {
	inner  codec.RegistryClient
	byID   atomic.Int64
	lookup atomic.Int64
	reg    atomic.Int64
}

func (c *countingClient) SchemaByID(ctx context.Context, id uint32) (string, error) {
	c.byID.Add(1)
	return c.inner.SchemaByID(ctx, id)
}

func (c *countingClient) LookupID(ctx context.Context, subject, schema string) (uint32, error) {
	c.lookup.Add(1)
	return c.inner.LookupID(ctx, subject, schema)
}

func (c *countingClient) Register(ctx context.Context, subject, schema string) (uint32, error) {
	c.reg.Add(1)
	return c.inner.Register(ctx, subject, schema)
}

// fastRetry keeps outage tests quick; the attempts count is asserted.
const fastAttempts = 3

func fastRetry() []codec.RegistryOpt {
	return []codec.RegistryOpt{
		codec.RetryBackoff(time.Millisecond, 4*time.Millisecond),
		codec.RetryAttempts(fastAttempts),
		codec.RetryTimeout(30 * time.Second),
	}
}

// newFake starts an srfake registry that stops with the test.
func newFake(t testing.TB) *srfake.Registry {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	return fake
}

// newRegistry returns a Registry over HTTP to fake, and its call counter.
func newRegistry(t testing.TB, fake *srfake.Registry, opts ...codec.RegistryOpt) (*codec.Registry, *countingClient) {
	t.Helper()
	hc, err := codec.NewHTTPRegistryClient(fake.URL(), codec.RequestTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingClient{inner: hc}
	reg, err := codec.NewRegistry(cc, append(fastRetry(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return reg, cc
}

func mustAvro[T any](t testing.TB, reg *codec.Registry, schema string, opts ...codec.AvroOpt) *codec.AvroSerde[T] {
	t.Helper()
	s, err := codec.Avro[T](reg, schema, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
