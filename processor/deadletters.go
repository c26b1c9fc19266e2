package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
)

// DeadLetter is one record of a dead-letter topic, with what its
// headers say about where it came from and why.
type DeadLetter struct {
	Partition int32 // in the dead-letter topic
	Offset    int64
	Kind      string // codec.HeaderErrorKind, e.g. "malformed"
	Error     string
	// Source is where the record was read when it failed: the topic a
	// replay sends it back to.
	Source          string
	SourcePartition int32
	SourceOffset    int64
	Key, Value      []byte
	Timestamp       time.Time
	// Headers are the record's own, without Weir's dead-letter headers:
	// what a replay writes.
	Headers []codec.Header
	// Replayed: a replay sent it back already (its ledger holds it).
	Replayed bool
}

// DeadLetterFilter selects dead letters; zero fields select all.
type DeadLetterFilter struct {
	Kinds  []string // error kinds
	Source string   // source topic
}

// Match says whether f selects d.
func (f DeadLetterFilter) Match(d DeadLetter) bool {
	return (len(f.Kinds) == 0 || slices.Contains(f.Kinds, d.Kind)) && (f.Source == "" || f.Source == d.Source)
}

// HeaderReplayOf marks a replayed record with the dead letter it came
// from: "<dead-letter topic>/<partition>/<offset>".
const HeaderReplayOf = "weir.replay.of"

// ReplayLedgerTopic is the compacted topic that remembers which dead
// letters of topic were replayed, so a second replay skips them.
func ReplayLedgerTopic(topic string) string { return topic + "-replayed" }

// ReadDeadLetters calls fn with each committed dead letter of topic up to
// its last stable offsets, marked Replayed from the topic's replay
// ledger. It is for listing; ReplayDeadLetters sends them back.
func ReadDeadLetters(ctx context.Context, topic string, fn func(DeadLetter) error, opts ...Opt) error {
	kopts, err := ClientOpts(opts...)
	if err != nil {
		return err
	}
	replayed, err := readLedger(ctx, kopts, ReplayLedgerTopic(topic), false)
	if err != nil {
		return err
	}
	return readToEnd(ctx, kopts, []string{topic}, func(r *kgo.Record) error {
		d := deadLetterOf(r)
		d.Replayed = replayed[ledgerKey(d.Partition, d.Offset)]
		return fn(d)
	})
}

// ReplayResult counts what a replay did.
type ReplayResult struct {
	Replayed      int // sent back now
	AlreadyBefore int // selected, but replayed by an earlier run
	NotSelected   int
	// Unreplayable: selected, but without Weir's source headers, or
	// from a source partition that no longer exists.
	Unreplayable int
}

// ReplayDeadLetters sends the dead letters of topic that filter selects
// back to their source topics, with their own key, value, timestamp and
// headers (plus HeaderReplayOf), after a fix, so the pipeline processes
// them again. Each is written in one transaction with its entry in the
// replay ledger (ReplayLedgerTopic, created compacted if missing), so a
// dead letter is replayed once however often the replay runs or fails.
// transactionalID names the replay's producer. Run one replay of a topic
// at a time: a second one started meanwhile reads the ledger before the
// first has finished. progress hears each committed batch.
func ReplayDeadLetters(ctx context.Context, topic string, filter DeadLetterFilter, transactionalID string, progress func(ReplayResult), opts ...Opt) (ReplayResult, error) {
	var res ReplayResult
	if progress == nil {
		progress = func(ReplayResult) {}
	}
	kopts, err := ClientOpts(opts...)
	if err != nil {
		return res, err
	}
	ledger := ReplayLedgerTopic(topic)
	existed, partitions, err := createLedger(ctx, kopts, topic, ledger)
	if err != nil {
		return res, err
	}
	cl, err := kgo.NewClient(append(kopts, kgo.TransactionalID(transactionalID), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return res, fmt.Errorf("%w: kafka client: %v", ErrConfig, err)
	}
	defer cl.Close()
	// Taking the producer id fences an earlier replay with this id and
	// completes its last transaction, so the ledger read next holds it.
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return res, fmt.Errorf("dlq replay: start the transactional producer %s: %w", transactionalID, err)
	}
	replayed, err := readLedger(ctx, kopts, ledger, existed)
	if err != nil {
		return res, err
	}
	sources, err := sourcePartitions(ctx, kopts, topic)
	if err != nil {
		return res, err
	}
	const batch = 500
	var pending []*kgo.Record
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		perr := cl.ProduceSync(ctx, pending...).FirstErr()
		commit := kgo.TryCommit
		if perr != nil {
			commit = kgo.TryAbort
		}
		if err := cl.EndTransaction(ctx, commit); err != nil || perr != nil {
			return fmt.Errorf("dlq replay: a transaction did not commit, or its outcome is unknown: run the replay again, it skips what the ledger shows committed: %w", errors.Join(perr, err))
		}
		res.Replayed += len(pending) / 2
		pending = pending[:0]
		progress(res)
		return nil
	}
	err = readToEnd(ctx, kopts, []string{topic}, func(r *kgo.Record) error {
		d := deadLetterOf(r)
		switch key := ledgerKey(d.Partition, d.Offset); {
		case !filter.Match(d):
			res.NotSelected++
		case replayed[key]:
			res.AlreadyBefore++
		case d.Source == "" || d.SourcePartition < 0 || d.SourcePartition >= sources[d.Source]:
			// No headers (not written by Weir), or its source partition
			// is gone: it cannot go back where it came from.
			res.Unreplayable++
		default:
			hs := make([]kgo.RecordHeader, 0, len(d.Headers)+1)
			for _, h := range d.Headers {
				hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
			}
			hs = append(hs, kgo.RecordHeader{Key: HeaderReplayOf, Value: []byte(fmt.Sprintf("%s/%d/%d", topic, d.Partition, d.Offset))})
			pending = append(pending,
				&kgo.Record{Topic: d.Source, Partition: d.SourcePartition, Key: d.Key, Value: d.Value, Timestamp: d.Timestamp, Headers: hs},
				&kgo.Record{Topic: ledger, Partition: ledgerPartition(key, partitions), Key: []byte(key), Value: []byte(time.Now().UTC().Format(time.RFC3339))})
			if len(pending) >= 2*batch {
				return flush()
			}
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return res, err
}

// deadLetterOf reads r's headers: Weir's name the source and the error,
// the rest are the record's own.
func deadLetterOf(r *kgo.Record) DeadLetter {
	d := DeadLetter{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, SourcePartition: -1, SourceOffset: -1}
	for _, h := range r.Headers {
		switch h.Key {
		case codec.HeaderErrorKind:
			d.Kind = string(h.Value)
		case codec.HeaderError:
			d.Error = string(h.Value)
		case codec.HeaderTopic:
			d.Source = string(h.Value)
		case codec.HeaderPartition:
			if p, err := strconv.ParseInt(string(h.Value), 10, 32); err == nil {
				d.SourcePartition = int32(p)
			}
		case codec.HeaderOffset:
			if o, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				d.SourceOffset = o
			}
		case codec.HeaderTimestamp:
			if ms, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				d.Timestamp = time.UnixMilli(ms)
			}
		default:
			if !strings.HasPrefix(h.Key, "weir.") { // an earlier replay's mark too
				d.Headers = append(d.Headers, codec.Header{Key: h.Key, Value: h.Value})
			}
		}
	}
	return d
}

func ledgerKey(partition int32, offset int64) string { return fmt.Sprintf("%d/%d", partition, offset) }

// readLedger returns the keys of ledger; none if it does not exist,
// unless it must (a ledger that existed cannot be read as empty: that
// would replay everything again).
func readLedger(ctx context.Context, kopts []kgo.Opt, ledger string, mustExist bool) (map[string]bool, error) {
	keys := map[string]bool{}
	err := readToEnd(ctx, kopts, []string{ledger}, func(r *kgo.Record) error {
		keys[string(r.Key)] = true
		return nil
	})
	if errors.Is(err, ErrTopicMissing) && !mustExist {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("dlq: replay ledger: %w", err)
	}
	return keys, nil
}

// ledgerPartition spreads ledger keys over its partitions by hash, so
// a dead-letter topic with more partitions than its ledger still fits.
func ledgerPartition(key string, partitions int32) int32 {
	var h uint32 = 2166136261 // FNV-1a
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return int32(h % uint32(max(partitions, 1)))
}

// sourcePartitions reads, from the dead letters' headers, which topics
// they came from and returns each one's partition count now (0: gone).
func sourcePartitions(ctx context.Context, kopts []kgo.Opt, topic string) (map[string]int32, error) {
	names := map[string]bool{}
	if err := readToEnd(ctx, kopts, []string{topic}, func(r *kgo.Record) error {
		for _, h := range r.Headers {
			if h.Key == codec.HeaderTopic {
				names[string(h.Value)] = true
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	out := map[string]int32{}
	if len(names) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: kafka client: %v", ErrConfig, err)
	}
	defer cl.Close()
	var list []string
	for n := range names {
		list = append(list, n)
	}
	details, err := kadm.NewClient(cl).ListTopics(ctx, list...)
	if err != nil {
		return nil, fmt.Errorf("dlq replay: source topics: %w", err)
	}
	for _, n := range list {
		if d, ok := details[n]; ok && d.Err == nil {
			out[n] = int32(len(d.Partitions))
		}
	}
	return out, nil
}

// createLedger creates ledger, compacted, with the partitions of topic,
// unless it exists, and returns whether it existed and its partitions.
func createLedger(ctx context.Context, kopts []kgo.Opt, topic, ledger string) (bool, int32, error) {
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return false, 0, fmt.Errorf("%w: kafka client: %v", ErrConfig, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(ctx, topic, ledger)
	if err != nil {
		return false, 0, fmt.Errorf("dlq replay: %s: %w", topic, err)
	}
	if l, ok := details[ledger]; ok && l.Err == nil {
		return true, int32(len(l.Partitions)), nil
	}
	d, ok := details[topic]
	if !ok || d.Err != nil {
		return false, 0, fmt.Errorf("dlq replay: dead-letter topic %s: %w (check -app or -topic)", topic, ErrTopicMissing)
	}
	partitions := int32(len(d.Partitions))
	resp, err := adm.CreateTopic(ctx, partitions, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, ledger)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return true, partitions, nil // created a moment ago by another replay
	}
	if err != nil {
		return false, 0, fmt.Errorf("dlq replay: create the replay ledger %s: %w", ledger, err)
	}
	return false, partitions, nil
}
