package avro

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoffDelayDoublesUpToMax(t *testing.T) {
	b := backoff{initial: 10 * time.Millisecond, max: 50 * time.Millisecond, attempts: 10}
	want := []time.Duration{10, 20, 40, 50, 50}
	for i, w := range want {
		if got := b.delay(i + 1); got != w*time.Millisecond {
			t.Errorf("delay(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
}

func TestRetryStopsAfterAttempts(t *testing.T) {
	b := backoff{initial: time.Microsecond, max: time.Microsecond, attempts: 4}
	calls := 0
	boom := errors.New("boom")
	err := retry(context.Background(), b, func(error) bool { return true }, func(context.Context) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 4 {
		t.Fatalf("retry = %v after %d calls, want boom after 4", err, calls)
	}
}

func TestRetryStopsOnSuccessAndOnFinalError(t *testing.T) {
	b := backoff{initial: time.Microsecond, max: time.Microsecond, attempts: 10}
	calls := 0
	err := retry(context.Background(), b, func(error) bool { return true }, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("transient")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("retry = %v after %d calls, want nil after 3", err, calls)
	}
	calls = 0
	final := errors.New("final")
	err = retry(context.Background(), b, func(err error) bool { return !errors.Is(err, final) }, func(context.Context) error {
		calls++
		return final
	})
	if !errors.Is(err, final) || calls != 1 {
		t.Fatalf("retry = %v after %d calls, want final after 1", err, calls)
	}
}

func TestRetryHonoursContext(t *testing.T) {
	// A backoff far longer than the test: only ctx can end it.
	b := backoff{initial: time.Hour, max: time.Hour, attempts: 5}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := retry(ctx, b, func(error) bool { return true }, func(context.Context) error {
		calls++
		cancel()
		return errors.New("down")
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("retry = %v after %d calls, want context.Canceled after 1", err, calls)
	}
}
