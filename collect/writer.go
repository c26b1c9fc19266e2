package collect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Errors a write can end with; the HTTP layer maps them to 429 and 503.
var (
	// ErrBusy: more events wait for Kafka than MaxPendingEvents allows.
	ErrBusy = errors.New("collect: too many events waiting for Kafka")
	// ErrUnavailable: the transaction did not commit, or Kafka failed
	// lately and the collector is waiting before it tries again.
	ErrUnavailable = errors.New("collect: Kafka unavailable")
	// ErrClosed: the collector is shutting down.
	ErrClosed = errors.New("collect: closed")
)

// unavailable is ErrUnavailable with how long to wait before retrying.
type unavailable struct {
	retryAfter time.Duration
	refused    bool // turned away before queueing: nothing was tried
	err        error
}

// refused says whether a write was turned away without being tried, so
// another producer may take it.
func refused(err error) bool {
	var u *unavailable
	return errors.Is(err, ErrBusy) || errors.As(err, &u) && u.refused
}

// Error is what clients read, so it leaves the cause (broker addresses,
// internals) to the collector's log.
func (u *unavailable) Error() string {
	return fmt.Sprintf("%v: retry after %v", ErrUnavailable, u.retryAfter.Round(time.Second))
}
func (u *unavailable) Unwrap() []error { return []error{ErrUnavailable, u.err} }

// maxTxnRecords bounds the records of one transaction.
const maxTxnRecords = 10000

// Backoff after a failed transaction, doubling, during which requests
// are refused at once with 503 instead of queueing behind a dead cluster.
const (
	downInitial = 500 * time.Millisecond
	downMax     = 30 * time.Second
)

// writeReq is one request's records and where its outcome goes.
type writeReq struct {
	recs []record
	done chan error
}

// writer is the collector's only Kafka client: one loop that commits
// whatever requests queued while the previous transaction ran (group
// commit), so a batch is visible all at once or not at all.
type writer struct {
	opts       []kgo.Opt
	ackTimeout time.Duration
	maxPending int
	log        *zap.Logger
	m          *metrics

	in   chan *writeReq
	stop chan struct{}
	done chan struct{}

	mu        sync.Mutex
	pending   int
	closed    bool
	downUntil time.Time
	backoff   time.Duration

	cl *kgo.Client // the loop's
}

// newWriter makes the producer with transactional id txnID, connected
// by conn (shared by every writer: appended to a copy).
func newWriter(conn []kgo.Opt, txnID string, ackTimeout time.Duration, maxPending int, log *zap.Logger, m *metrics) *writer {
	w := &writer{
		opts: append(slices.Clip(conn),
			kgo.TransactionalID(txnID),
			kgo.TransactionTimeout(max(3*ackTimeout, 30*time.Second)),
			kgo.MaxBufferedRecords(maxPending+maxTxnRecords),
			kgo.ProducerLinger(0),
		),
		ackTimeout: ackTimeout, maxPending: maxPending, log: log, m: m,
		in: make(chan *writeReq, maxPending+1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	return w
}

// start makes the producer (initing its producer id) and starts the
// loop: a producer that cannot start fails the collector's start-up.
func (w *writer) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.ackTimeout)
	defer cancel()
	if _, err := w.client(ctx); err != nil {
		close(w.done)
		return err
	}
	go w.run()
	return nil
}

// write queues recs and waits for their transaction: nil once they are
// committed. It takes no context, since an answer before the outcome
// could be wrong; the loop answers within about two AckTimeouts of
// taking the request.
func (w *writer) write(recs []record) error {
	w.mu.Lock()
	switch now := time.Now(); {
	case w.closed:
		w.mu.Unlock()
		return ErrClosed
	case now.Before(w.downUntil):
		w.mu.Unlock()
		return &unavailable{retryAfter: w.downUntil.Sub(now), refused: true, err: errors.New("the last transaction failed")}
	case w.pending+len(recs) > w.maxPending:
		w.mu.Unlock()
		return ErrBusy
	}
	w.pending += len(recs)
	w.m.pending.Set(float64(w.pending))
	req := &writeReq{recs: recs, done: make(chan error, 1)}
	w.in <- req // never blocks: each queued request holds at least one pending event
	w.mu.Unlock()
	return <-req.done
}

func (w *writer) run() {
	defer close(w.done)
	for {
		var reqs []*writeReq
		select {
		case r := <-w.in:
			reqs = append(reqs, r)
		case <-w.stop:
			w.drain()
			return
		}
		n := len(reqs[0].recs)
	gather:
		for n < maxTxnRecords {
			select {
			case r := <-w.in:
				reqs = append(reqs, r)
				n += len(r.recs)
			default:
				break gather
			}
		}
		w.finish(reqs, n, w.commit(reqs))
	}
}

// drain answers what was queued before close: committed while Kafka
// takes them, refused at once after the first failure.
func (w *writer) drain() {
	var failed error
	for {
		select {
		case r := <-w.in:
			err := failed
			if err == nil {
				err = w.commit([]*writeReq{r})
				failed = err
			}
			w.finish([]*writeReq{r}, len(r.recs), err)
		default:
			if w.cl != nil {
				w.cl.Close()
				w.cl = nil
			}
			return
		}
	}
}

func (w *writer) finish(reqs []*writeReq, n int, err error) {
	w.mu.Lock()
	w.pending -= n
	w.m.pending.Set(float64(w.pending))
	if err != nil {
		w.log.Warn("transaction failed; refusing requests for a while", zap.Int("events", n), zap.Duration("for", min(max(2*w.backoff, downInitial), downMax)), zap.Error(err))
		w.backoff = min(max(2*w.backoff, downInitial), downMax)
		w.downUntil = time.Now().Add(w.backoff)
		w.m.txns.WithLabelValues("aborted").Inc()
		err = &unavailable{retryAfter: w.backoff, err: err}
	} else {
		w.backoff, w.downUntil = 0, time.Time{}
		w.m.txns.WithLabelValues("committed").Inc()
	}
	w.mu.Unlock()
	for _, r := range reqs {
		r.done <- err
	}
}

// commit writes reqs in one transaction. On any failure the transaction
// is aborted (or, if even that fails, the client is dropped: the next
// one's InitProducerID aborts it on the broker), so none of it is
// visible to read_committed readers.
func (w *writer) commit(reqs []*writeReq) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.ackTimeout)
	defer cancel()
	cl, err := w.client(ctx)
	if err != nil {
		return err
	}
	if err := cl.BeginTransaction(); err != nil {
		w.drop()
		return err
	}
	var mu sync.Mutex
	var produceErr error
	for _, req := range reqs {
		for i := range req.recs {
			r := &req.recs[i]
			cl.Produce(ctx, &kgo.Record{Topic: r.topic, Key: []byte(r.key), Value: r.value, Timestamp: r.time},
				func(_ *kgo.Record, err error) {
					if err != nil {
						mu.Lock()
						produceErr = errors.Join(produceErr, err)
						mu.Unlock()
					}
				})
		}
	}
	err = cl.Flush(ctx)
	mu.Lock()
	err = errors.Join(err, produceErr)
	mu.Unlock()
	if err == nil {
		// Its own time: cancelling EndTransaction leaves the outcome
		// unknown, which a slow flush must not cause.
		ectx, cancel := context.WithTimeout(context.Background(), w.ackTimeout)
		err = cl.EndTransaction(ectx, kgo.TryCommit)
		cancel()
		if err == nil {
			return nil
		}
		// The commit's outcome is unknown; drop the client rather than
		// guess (the rare case where a retry may duplicate).
		w.drop()
		return fmt.Errorf("commit: %w", err)
	}
	w.abort(cl)
	return err
}

// client returns the producer, making one if needed; making one inits
// its producer id, which fails fast when Kafka is unreachable.
func (w *writer) client(ctx context.Context) (*kgo.Client, error) {
	if w.cl != nil {
		return w.cl, nil
	}
	cl, err := kgo.NewClient(w.opts...)
	if err != nil {
		return nil, err
	}
	if _, _, err := cl.ProducerID(ctx); err != nil {
		go cl.Close()
		return nil, fmt.Errorf("init producer id: %w", err)
	}
	w.cl = cl
	return cl, nil
}

func (w *writer) abort(cl *kgo.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), w.ackTimeout)
	defer cancel()
	err := cl.AbortBufferedRecords(ctx)
	if err == nil {
		err = cl.EndTransaction(ctx, kgo.TryAbort)
	}
	if err != nil {
		w.log.Warn("abort failed; dropping the producer", zap.Error(err))
		w.drop()
	}
}

func (w *writer) drop() {
	if w.cl != nil {
		go w.cl.Close() // may wait on a dead broker
		w.cl = nil
	}
}

// close stops taking writes, commits what is queued and closes the
// client.
func (w *writer) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	if w.cl != nil { // a start that failed after making a client
		w.cl.Close()
		w.cl = nil
	}
}
