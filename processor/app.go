// Package processor runs a built topology on a Kafka cluster: one App is
// one worker, a member of the consumer group named after the application
// id. It is the only package that talks to Kafka.
//
// Exactly-once: every commit puts the tasks' outputs, the changelog
// records of their store writes and the input offsets in one Kafka
// transaction. Store writes wait in a per-task pending batch (reads see
// them) and reach Pebble only after the transaction commits, in the same
// Pebble batch as the changelog offsets they correspond to. An aborted
// transaction drops the batches and rewinds every task to its last
// commit, so local state never runs ahead of Kafka.
package processor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/weirstream/weir/state/pebble"
	"github.com/weirstream/weir/topology"
)

// App is one worker of a topology.
type App struct {
	topo *topology.Topology
	cfg  config
	log  *zap.Logger
	// abandon, when closed, makes Run stop mid-transaction as a crashed
	// process would: no commit, no abort, no goodbye (tests only).
	abandon chan struct{}
	// serving is the running worker's view for queries; nil when stopped.
	serving atomic.Pointer[serving]
	// degraded lists the paused tasks, for Degraded.
	degraded atomic.Pointer[[]string]
	// abortPipelined is how many more commits abort once the next
	// interval has processed records (tests only).
	abortPipelined atomic.Int32
}

// errAbandoned is what Run returns after abandon.
var errAbandoned = errors.New("processor: worker abandoned mid-transaction")

// New validates the configuration and returns a worker for topo. It does
// no I/O: cluster and state directory problems surface from Run.
func New(topo *topology.Topology, opts ...Opt) (*App, error) {
	if topo == nil {
		return nil, fmt.Errorf("%w: nil topology: build one with topology.New(...).Build()", ErrConfig)
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &App{topo: topo, cfg: cfg, abandon: make(chan struct{}),
		log: cfg.log.With(zap.String("app", topo.AppID()), zap.String("instance", cfg.instanceID))}, nil
}

// Run joins the group and processes until ctx is cancelled or a task
// fails. On cancel it finishes the current commit, closes its stores and
// leaves the group, and returns nil.
func (a *App) Run(ctx context.Context) error {
	dir := filepath.Join(a.cfg.stateDir, a.topo.AppID())
	if err := checkWritable(dir); err != nil {
		return err
	}
	plan, err := a.prepare(ctx)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil // stopped while starting: as clean as any stop
		}
		return err
	}
	db, err := pebble.Open(dir, pebble.Options{Logger: a.log.Named("pebble")})
	if err != nil {
		return fmt.Errorf("processor: open state in %s: %w", dir, err)
	}
	defer db.Close()

	backoff := 100 * time.Millisecond
	for {
		w, err := newWorker(a, plan, db)
		if err != nil {
			return err
		}
		err = w.run(ctx)
		a.serving.Store(nil)
		a.degraded.Store(nil)
		w.close(errors.Is(err, errAbandoned))
		switch {
		case ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)):
			return nil
		case !errors.Is(err, errRestart):
			return err
		}
		// The Kafka client cannot go on after a failed transaction: start
		// a fresh one (a new producer id). Tasks reopen from their local
		// checkpoints; uncommitted work is redone.
		a.log.Warn("restarting the worker's Kafka session", zap.Error(err), zap.Duration("backoff", backoff))
		if sleepCtx(ctx, backoff) != nil {
			return nil
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// errRestart marks errors after which the worker rebuilds its Kafka
// session and carries on, rather than stopping.
var errRestart = errors.New("processor: kafka session must restart")

func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: state directory %s cannot be created: %v: pass processor.StateDir with a writable directory", ErrConfig, dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("%w: state directory %s is not writable: %v: pass processor.StateDir with a writable directory", ErrConfig, dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
