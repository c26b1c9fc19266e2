package serve

import (
	"context"
	"fmt"
)

// WaitSubscribers blocks until n trigger streams are connected, so tests
// synchronise on clients (dis)connecting instead of sleeping.
func (s *Server) WaitSubscribers(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, changed := len(s.subs), s.changed
		s.mu.Unlock()
		if got == n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d trigger streams, want %d: %w", got, n, ctx.Err())
		}
	}
}

// WaitProfileSubscribers blocks until n streams of id are connected.
func (s *Server) WaitProfileSubscribers(ctx context.Context, id string, n int) error {
	for {
		s.mu.Lock()
		got, changed := len(s.profileSubs[id]), s.changed
		s.mu.Unlock()
		if got == n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d profile streams of %s, want %d: %w", got, id, n, ctx.Err())
		}
	}
}
