package processor

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

const sec = time.Second

// retry calls fn until it succeeds or ctx ends, with capped exponential
// backoff (50ms doubling to 2s), logging each failure.
func retry(ctx context.Context, log *zap.Logger, what string, fn func() error) error {
	backoff := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		log.Warn("retrying", zap.String("what", what), zap.Error(err), zap.Duration("backoff", backoff))
		if sleepCtx(ctx, backoff) != nil {
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
