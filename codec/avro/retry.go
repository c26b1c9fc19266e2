package avro

import (
	"context"
	"errors"
	"time"
)

// backoff is a capped exponential retry policy.
type backoff struct {
	initial  time.Duration
	max      time.Duration
	attempts int           // total tries, >= 1
	timeout  time.Duration // bound on all tries together; 0 means none
	// outageOnce: an unreachable registry is not retried (the task
	// core's path, where the runtime pauses the task and retries it).
	outageOnce bool
}

// delay returns the wait before try number n+1 (n >= 1 tries done).
func (b backoff) delay(n int) time.Duration {
	d := b.initial
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// retry calls fn until it succeeds, returns an error retryable rejects,
// the attempts run out, or ctx ends. It returns the last error of fn, or
// fn's error joined with ctx's when ctx ended first.
func retry(ctx context.Context, b backoff, retryable func(error) bool, fn func(context.Context) error) error {
	if b.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	var err error
	for n := 1; ; n++ {
		err = fn(ctx)
		if err == nil || !retryable(err) || n >= b.attempts {
			return err
		}
		t := time.NewTimer(b.delay(n))
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(err, ctx.Err()) {
				return err
			}
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}
