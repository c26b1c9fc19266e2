package avro_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/codec/avro"
)

func TestRegistryOutage(t *testing.T) {
	fake := newFake(t)
	preg, _ := newRegistry(t, fake)
	p1 := mustAvro[UserV1](t, preg, userV1, avro.AutoRegister())
	p2 := mustAvro[UserV2](t, preg, userV2, avro.AutoRegister())
	known, err := p1.Encode("users", UserV1{ID: "known", Age: 1})
	if err != nil {
		t.Fatal(err)
	}
	unseen, err := p2.Encode("users", UserV2{ID: "unseen", Age: 2})
	if err != nil {
		t.Fatal(err)
	}

	creg, cc := newRegistry(t, fake)
	c := mustAvro[UserV2](t, creg, userV2)
	if _, err := c.Decode("users", known); err != nil { // warms the cache
		t.Fatal(err)
	}
	warm := cc.byID.Load()
	if warm != 1 {
		t.Fatalf("warming fetched %d schemas, want 1", warm)
	}

	fake.Close() // the registry goes away

	for range 3 {
		got, err := c.Decode("users", known)
		if err != nil || got.ID != "known" {
			t.Fatalf("cached id during outage: %+v, %v", got, err)
		}
	}
	if n := cc.byID.Load(); n != warm {
		t.Fatalf("cached id reached the registry: %d fetches, want %d", n, warm)
	}

	_, err = c.Decode("users", unseen)
	if !errors.Is(err, codec.ErrRegistryUnavailable) {
		t.Fatalf("unknown id during outage: %v, want ErrRegistryUnavailable", err)
	}
	if errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("outage error wraps ErrMalformed, which would dead-letter a good record: %v", err)
	}
	if n := cc.byID.Load() - warm; n != fastAttempts {
		t.Fatalf("unknown id was tried %d times, want RetryAttempts = %d", n, fastAttempts)
	}

	// An outage is not remembered: the next record tries again.
	_, _ = c.Decode("users", unseen)
	if n := cc.byID.Load() - warm; n != 2*fastAttempts {
		t.Fatalf("after a second decode %d tries, want %d", n, 2*fastAttempts)
	}

	// Producers with a known subject id keep working too.
	if _, err := p1.Encode("users", UserV1{ID: "still"}); err != nil {
		t.Fatalf("Encode with a cached id during outage: %v", err)
	}
	fresh := mustAvro[UserV1](t, preg, userV1, avro.AutoRegister())
	if _, err := fresh.Encode("other-topic", UserV1{ID: "x"}); !errors.Is(err, codec.ErrRegistryUnavailable) {
		t.Fatalf("Encode needing the registry during outage: %v, want ErrRegistryUnavailable", err)
	}
}

func TestUnknownIDRetriedThenRemembered(t *testing.T) {
	fake := newFake(t)
	reg, cc := newRegistry(t, fake)
	c := mustAvro[UserV1](t, reg, userV1)
	rec := append(codec.AppendWireHeader(nil, 4242), 2, 'a', 2, 0)
	_, err := c.Decode("users", rec)
	if !errors.Is(err, codec.ErrUnknownSchema) || !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("Decode(unknown id) = %v, want ErrUnknownSchema and ErrMalformed", err)
	}
	if n := cc.byID.Load(); n != fastAttempts {
		t.Fatalf("unknown id tried %d times, want %d", n, fastAttempts)
	}
	_, err = c.Decode("users", rec)
	if !errors.Is(err, codec.ErrUnknownSchema) {
		t.Fatalf("second Decode(unknown id) = %v", err)
	}
	if n := cc.byID.Load(); n != fastAttempts {
		t.Fatalf("remembered unknown id reached the registry again: %d tries", n)
	}
}

// hangingClient never answers: each call waits for its ctx, and says so
// on asked.
type hangingClient struct{ asked chan struct{} }

func (h hangingClient) wait(ctx context.Context) error {
	select {
	case h.asked <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

func (h hangingClient) SchemaByID(ctx context.Context, _ uint32) (string, error) {
	return "", h.wait(ctx)
}
func (h hangingClient) LookupID(ctx context.Context, _, _ string) (uint32, error) {
	return 0, h.wait(ctx)
}
func (h hangingClient) Register(ctx context.Context, _, _ string) (uint32, error) {
	return 0, h.wait(ctx)
}

// TestDecodeContextEndsWithContext: the task core's path gives up when
// the worker's ctx ends, long before the registry's retry budget, and
// reports an outage, not a bad record.
func TestDecodeContextEndsWithContext(t *testing.T) {
	hc := hangingClient{asked: make(chan struct{}, 1)}
	reg, err := avro.NewRegistry(hc, avro.RetryTimeout(time.Hour), avro.ContextRetryTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c := mustAvro[UserV1](t, reg, userV1)
	rec := append(codec.AppendWireHeader(nil, 42), 2, 'a', 2, 0)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-hc.asked; cancel() }()
	_, err = c.DecodeContext(ctx, "users", rec)
	if !errors.Is(err, codec.ErrRegistryUnavailable) || errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("DecodeContext after cancel = %v, want ErrRegistryUnavailable without ErrMalformed", err)
	}
	_, err = c.EncodeContext(ctx, "users", UserV1{ID: "a"})
	if !errors.Is(err, codec.ErrRegistryUnavailable) {
		t.Fatalf("EncodeContext with an ended ctx = %v, want ErrRegistryUnavailable", err)
	}
}

// TestContextRetryTimeout: a hanging registry holds the task core's path
// for ContextRetryTimeout, not RetryTimeout.
func TestContextRetryTimeout(t *testing.T) {
	hc := hangingClient{asked: make(chan struct{}, 1)}
	reg, err := avro.NewRegistry(hc, avro.RetryTimeout(time.Hour), avro.ContextRetryTimeout(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	c := mustAvro[UserV1](t, reg, userV1)
	rec := append(codec.AppendWireHeader(nil, 42), 2, 'a', 2, 0)
	if _, err := c.DecodeContext(context.Background(), "users", rec); !errors.Is(err, codec.ErrRegistryUnavailable) {
		t.Fatalf("DecodeContext = %v, want ErrRegistryUnavailable", err)
	}
	if _, err := avro.NewRegistry(hc, avro.ContextRetryTimeout(0)); err == nil {
		t.Fatal("ContextRetryTimeout(0) accepted")
	}
}

// TestContextPathTriesOutageOnce: the task core's path leaves retrying an
// unreachable registry to the runtime's pause, so one lookup costs one
// request, not the retry budget.
func TestContextPathTriesOutageOnce(t *testing.T) {
	fake := newFake(t)
	preg, _ := newRegistry(t, fake)
	unseen, err := mustAvro[UserV1](t, preg, userV1, avro.AutoRegister()).Encode("users", UserV1{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	creg, cc := newRegistry(t, fake)
	c := mustAvro[UserV1](t, creg, userV1)
	fake.Close()
	if _, err := c.DecodeContext(context.Background(), "users", unseen); !errors.Is(err, codec.ErrRegistryUnavailable) {
		t.Fatalf("DecodeContext during outage = %v, want ErrRegistryUnavailable", err)
	}
	if n := cc.byID.Load(); n != 1 {
		t.Fatalf("DecodeContext tried the registry %d times, want 1", n)
	}
}
