package avro_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"
	"github.com/weirstream/weir/codec/avro"
)

// countingClient counts calls that reach the registry client.
type countingClient struct {
	inner  avro.RegistryClient
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

func fastRetry() []avro.RegistryOpt {
	return []avro.RegistryOpt{
		avro.RetryBackoff(time.Millisecond, 4*time.Millisecond),
		avro.RetryAttempts(fastAttempts),
		avro.RetryTimeout(30 * time.Second),
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
func newRegistry(t testing.TB, fake *srfake.Registry, opts ...avro.RegistryOpt) (*avro.Registry, *countingClient) {
	t.Helper()
	hc, err := avro.NewHTTPRegistryClient(fake.URL(), avro.RequestTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingClient{inner: hc}
	reg, err := avro.NewRegistry(cc, append(fastRetry(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return reg, cc
}

func mustAvro[T any](t testing.TB, reg *avro.Registry, schema string, opts ...avro.Opt) *avro.Serde[T] {
	t.Helper()
	s, err := avro.New[T](reg, schema, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
