package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/topology"
)

// session is the worker's side of one Kafka transaction after another:
// begin, produce (tracking produce errors and where each changelog
// partition ends), and end with a commit or an abort. At least once there
// is no transaction: ending flushes and commits the offsets.
type session struct {
	log    *zap.Logger
	metric Metrics
	sess   *kgo.GroupTransactSession // nil at least once
	cl     *kgo.Client
	counts map[string]int32 // partition counts, for outputs without one

	keyPart map[string]kgo.TopicPartitioner
	rr      map[string]int // round robin for outputs without a key

	// Records consumed and produced in the open transaction.
	consumed, produced int
	// begun says franz-go's transaction is open: an idle interval leaves
	// it so (see end), and the next begin keeps it.
	begun    bool
	outTimes []time.Time // event times of its outputs

	// Produce results of the open transaction, from client callbacks.
	mu      sync.Mutex
	err     error
	logEnds map[state.TopicPartition]int64 // partition -> last offset + 1
}

func newSession(log *zap.Logger, m Metrics, sess *kgo.GroupTransactSession, cl *kgo.Client, counts map[string]int32) *session {
	return &session{log: log, metric: m, sess: sess, cl: cl, counts: counts,
		keyPart: map[string]kgo.TopicPartitioner{}, rr: map[string]int{}}
}

// begin opens the next transaction and forgets the last one's produce
// results.
func (s *session) begin() error {
	s.mu.Lock()
	s.err, s.logEnds = nil, map[state.TopicPartition]int64{}
	s.mu.Unlock()
	if s.sess == nil || s.begun {
		return nil
	}
	if err := s.sess.Begin(); err != nil {
		return fmt.Errorf("%w: begin transaction: %w", errRestart, err)
	}
	s.begun = true
	return nil
}

// endTxn ends franz-go's transaction.
func (s *session) endTxn(ctx context.Context, try kgo.TransactionEndTry) (bool, error) {
	s.begun = false
	return s.sess.End(ctx, try)
}

// forgetRevoke ends the open transaction if partitions were revoked
// before it produced anything (the worker commits before it lets a
// rebalance through): franz-go would otherwise abort it at its end, with
// whatever the tasks did meanwhile. Tasks produce only when they commit,
// so nothing is lost. Ending it sets franz-go's positions back to the
// committed offsets: the records read again are skipped (inputs.read),
// and commits go by the worker's own positions (inputs.commitAt).
func (s *session) forgetRevoke(ctx context.Context, revoked bool) error {
	if !revoked || s.sess == nil || s.produced > 0 {
		return nil
	}
	if _, err := s.endTxn(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("%w: end the transaction a rebalance ran into: %w", errRestart, err)
	}
	return s.begin()
}

// consume counts an input record the open transaction moves past.
func (s *session) consume() { s.consumed++ }

// output produces a task's output record.
func (s *session) output(ctx context.Context, o topology.Output) {
	s.produce(ctx, s.outRecord(o))
	s.outTimes = append(s.outTimes, o.Timestamp)
}

// produce sends r in the open transaction; its result is kept for end.
func (s *session) produce(ctx context.Context, r *kgo.Record) {
	s.produced++
	s.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			s.err = errors.Join(s.err, fmt.Errorf("%s/%d: %w", r.Topic, r.Partition, err))
			return
		}
		tp := state.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if s.logEnds != nil && r.Offset+1 > s.logEnds[tp] {
			s.logEnds[tp] = r.Offset + 1
		}
	})
}

// logEnd is where tp ends after the records this transaction produced to
// it; false if it produced none.
func (s *session) logEnd(tp state.TopicPartition) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	end, ok := s.logEnds[tp]
	return end, ok
}

func (s *session) produceErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *session) outRecord(o topology.Output) *kgo.Record {
	r := &kgo.Record{Topic: o.Topic, Key: o.Key, Value: o.Value, Timestamp: o.Timestamp, Partition: o.Partition}
	for _, h := range o.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	if r.Partition < 0 {
		n := int(s.counts[o.Topic])
		if n <= 0 {
			n = 1
		}
		if o.Key != nil {
			tp := s.keyPart[o.Topic]
			if tp == nil {
				tp = kgo.StickyKeyPartitioner(nil).ForTopic(o.Topic)
				s.keyPart[o.Topic] = tp
			}
			r.Partition = int32(tp.Partition(r, n))
		} else {
			r.Partition = int32(s.rr[o.Topic] % n)
			s.rr[o.Topic]++
		}
	}
	return r
}

// end finishes the open transaction: it commits (with the input offsets
// at, of which moved changed: see inputs.commitAt) unless a produce
// failed or abort is set, and
// reports whether it committed. holding says tasks hold records they have
// not processed. An error means the session cannot go on. It may run
// while tasks process (commit pipelining), never while the client is
// polled.
func (s *session) end(ctx context.Context, at, moved map[string]map[int32]int64, holding, abort bool) (bool, error) {
	// Flush first so every produce result is in before deciding: End's
	// own flush would come too late to turn a commit into an abort.
	if err := s.cl.Flush(ctx); err != nil {
		return false, fmt.Errorf("%w: flush: %w", errRestart, err)
	}
	perr := s.produceErr()
	// Held records keep the commit from being empty: ending it with an
	// abort would set the consumer back to the last commit and read
	// them again.
	idle := s.consumed == 0 && s.produced == 0 && !holding
	s.consumed, s.produced = 0, 0
	if s.sess == nil {
		if perr != nil {
			return false, fmt.Errorf("processor: produce: %w", perr)
		}
		if err := s.cl.CommitUncommittedOffsets(commitAtPlain(ctx, at)); err != nil {
			return false, fmt.Errorf("processor: commit offsets: %w", err)
		}
		return true, nil
	}
	try := kgo.TryCommit
	if perr != nil {
		s.log.Warn("a produce failed; aborting the transaction", zap.Error(perr))
		try = kgo.TryAbort
	}
	if abort {
		try = kgo.TryAbort
	}
	if idle && perr == nil && !abort {
		// Nothing to commit: the transaction stays open, as it has
		// touched no broker yet. An empty commit makes franz-go hold the
		// session for 500ms, and an abort sets its fetch positions back
		// to the last commit, so that it fetches again, every interval,
		// what the worker has already read.
		return true, nil
	}
	committed, err := s.endTxn(commitAt(ctx, at, moved), try)
	if err != nil {
		return false, fmt.Errorf("%w: end transaction: %w", errRestart, err)
	}
	// Produce errors that surfaced during End's flush.
	if perr = s.produceErr(); committed && perr != nil {
		return false, fmt.Errorf("processor: transaction committed despite a produce error: %w", perr)
	}
	return committed, nil
}

// abort drops the open transaction. At least once there is nothing to
// abort: the caller rebuilds the session instead.
func (s *session) abort(ctx context.Context) error {
	s.consumed, s.produced = 0, 0
	s.outTimes = s.outTimes[:0]
	if s.sess == nil {
		return nil
	}
	if _, err := s.endTxn(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("%w: abort: %w", errRestart, err)
	}
	return nil
}

// reportEndToEnd tells the metrics how long each output of a committed
// transaction took from its event time, and forgets them.
func (s *session) reportEndToEnd(committed bool) {
	if committed {
		now := time.Now()
		for _, ts := range s.outTimes {
			s.metric.EndToEnd(now.Sub(ts))
		}
	}
	s.outTimes = s.outTimes[:0]
}

// close aborts a transaction left open (a failed run) rather than leave
// it to the broker's timeout, unless abandoned (as a crash would), and
// closes the client, leaving the group (which waits for polls to be
// allowed, BlockRebalanceOnPoll).
func (s *session) close(abandoned bool) {
	if s.sess != nil && !abandoned {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := s.sess.End(ctx, kgo.TryAbort); err != nil {
			s.log.Debug("abort on close", zap.Error(err))
		}
		cancel()
	}
	s.cl.AllowRebalance()
	s.cl.Close()
}

// commitAt makes a transactional offset commit go where the worker has
// got (inputs.commitAt) rather than where franz-go has polled. franz-go
// leaves out partitions whose position is its last commit, as after an
// abort set it back (session.forgetRevoke): those that moved are added.
func commitAt(ctx context.Context, at, moved map[string]map[int32]int64) context.Context {
	return kgo.PreTxnCommitFnContext(ctx, func(req *kmsg.TxnOffsetCommitRequest) error {
		setCommitAt(req, at, moved)
		return nil
	})
}

func setCommitAt(req *kmsg.TxnOffsetCommitRequest, at, moved map[string]map[int32]int64) {
	left := make(map[string]map[int32]int64, len(moved))
	for topic, parts := range moved {
		left[topic] = maps.Clone(parts)
	}
	for i := range req.Topics {
		t := &req.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			setAt(at, t.Topic, p.Partition, &p.Offset, &p.LeaderEpoch)
			delete(left[t.Topic], p.Partition)
		}
	}
	for _, topic := range sortedKeys(left) {
		if len(left[topic]) == 0 {
			continue
		}
		i := slices.IndexFunc(req.Topics, func(t kmsg.TxnOffsetCommitRequestTopic) bool { return t.Topic == topic })
		if i < 0 {
			t := kmsg.NewTxnOffsetCommitRequestTopic()
			t.Topic = topic
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
		}
		for _, part := range slices.Sorted(maps.Keys(left[topic])) {
			p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch = part, left[topic][part], -1
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
		}
	}
}

// commitAtPlain is commitAt for plain (at-least-once) offset commits,
// where nothing sets franz-go's positions back.
func commitAtPlain(ctx context.Context, at map[string]map[int32]int64) context.Context {
	return kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			for j := range req.Topics[i].Partitions {
				p := &req.Topics[i].Partitions[j]
				setAt(at, req.Topics[i].Topic, p.Partition, &p.Offset, &p.LeaderEpoch)
			}
		}
		return nil
	})
}

// setAt moves one partition's commit to where the worker has got.
func setAt(at map[string]map[int32]int64, topic string, partition int32, offset *int64, epoch *int32) {
	if off, ok := at[topic][partition]; ok && off != *offset {
		*offset, *epoch = off, -1
	}
}
