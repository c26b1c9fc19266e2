package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LagNewTopics makes the in-process cluster answer the next n metadata
// requests that name (only) topics matching match as a broker whose
// metadata has not caught up with their creation would: "unknown topic",
// with an all-zero topic id. Real brokers do this for a moment after
// CreateTopics: a single-node Kafka 4.4 answered so for 4 of 5 topics
// asked about right after their creation. It returns a function reporting how many requests were
// answered so. Tier 2 only: on tier 3 it does nothing (and reports 0).
func (c *Cluster) LagNewTopics(ctx context.Context, match func(topic string) bool, n int) (answered func() int) {
	c.t.Helper()
	if c.Fake == nil {
		return func() int { return 0 }
	}
	// The answer carries the cluster's brokers: a client replaces its
	// broker list with what a metadata response says.
	md, err := c.admin.BrokerMetadata(ctx)
	if err != nil {
		c.t.Fatalf("kafkatest: broker metadata: %v", err)
	}
	var mu sync.Mutex
	done := 0
	c.Fake.ControlKey(kmsg.Metadata.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.MetadataRequest)
		if len(req.Topics) == 0 {
			return nil, nil, false
		}
		for _, rt := range req.Topics {
			if rt.Topic == nil || !match(*rt.Topic) {
				return nil, nil, false
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if done >= n {
			c.Fake.DropControl() // KeepControl below is sticky
			return nil, nil, false
		}
		done++
		c.Fake.KeepControl()
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		resp.ClusterID = kmsg.StringPtr(md.Cluster)
		resp.ControllerID = md.Controller
		for _, b := range md.Brokers {
			rb := kmsg.NewMetadataResponseBroker()
			rb.NodeID, rb.Host, rb.Port, rb.Rack = b.NodeID, b.Host, b.Port, b.Rack
			resp.Brokers = append(resp.Brokers, rb)
		}
		for _, rt := range req.Topics {
			st := kmsg.NewMetadataResponseTopic()
			st.Topic = kmsg.StringPtr(*rt.Topic)
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return done
	}
}

// FenceTransactionalID does what a restarted producer with the same
// transactional id does first: it bumps the id's epoch, which aborts the
// transaction a crashed producer left open, and returns once the abort
// markers are written to topics (their last stable offset reaches their
// end). Tests use it to settle a crash without waiting for the
// transaction timeout.
func (c *Cluster) FenceTransactionalID(ctx context.Context, txnID string, topics ...string) error {
	cl := c.Client()
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = kmsg.StringPtr(txnID)
		req.TransactionTimeoutMillis = 60000
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err == nil {
			break
		}
		// The coordinator answers CONCURRENT_TRANSACTIONS while it aborts.
		if !kerr.IsRetriable(err) && !errors.Is(err, kerr.ConcurrentTransactions) {
			return fmt.Errorf("kafkatest: fence %s: %w", txnID, err)
		}
		if err := wait(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("kafkatest: fence %s: %w (last error %v)", txnID, ctx.Err(), err)
		}
	}
	return c.WaitSettled(ctx, topics...)
}

// WaitSettled returns once no transaction is open on any partition of
// topics: every last stable offset equals its end offset.
func (c *Cluster) WaitSettled(ctx context.Context, topics ...string) error {
	for {
		ends, err := c.admin.ListEndOffsets(ctx, topics...)
		if err == nil {
			err = ends.Error()
		}
		var stable kadm.ListedOffsets
		if err == nil {
			stable, err = c.admin.ListCommittedOffsets(ctx, topics...)
			if err == nil {
				err = stable.Error()
			}
		}
		settled := err == nil
		if settled {
			ends.Each(func(e kadm.ListedOffset) {
				if s, ok := stable.Lookup(e.Topic, e.Partition); !ok || s.Offset < e.Offset {
					settled = false
				}
			})
		}
		if settled {
			return nil
		}
		if werr := wait(ctx, 50*time.Millisecond); werr != nil {
			return fmt.Errorf("kafkatest: %v not settled: %w (last error %v)", topics, werr, err)
		}
	}
}

// CountCommitted counts the committed data records (read_committed,
// control records and aborted data left out) of each partition from the
// given offset to its current end: what a restore from those offsets
// replays. Call it when the partitions are settled (WaitSettled).
func (c *Cluster) CountCommitted(ctx context.Context, from map[string]map[int32]int64) (int64, error) {
	todo := map[string]map[int32]kgo.Offset{}
	end := map[string]map[int32]int64{}
	for topic, ps := range from {
		ends, err := c.admin.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return 0, fmt.Errorf("kafkatest: end offsets of %s: %w", topic, err)
		}
		for p, o := range ps {
			e, _ := ends.Lookup(topic, p)
			if o >= e.Offset {
				continue
			}
			if todo[topic] == nil {
				todo[topic], end[topic] = map[int32]kgo.Offset{}, map[int32]int64{}
			}
			todo[topic][p] = kgo.NewOffset().At(o)
			end[topic][p] = e.Offset
		}
	}
	if len(todo) == 0 {
		return 0, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...),
		kgo.ConsumePartitions(todo),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Markers move the position to the end of each partition.
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var n int64
	left := 0
	for _, ps := range end {
		left += len(ps)
	}
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("kafkatest: count committed: %w (%d partitions not read to their end)", err, left)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return n, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			e, ok := end[r.Topic][r.Partition]
			if !ok || r.Offset >= e {
				return
			}
			if !r.Attrs.IsControl() {
				n++
			}
			if r.Offset == e-1 {
				delete(end[r.Topic], r.Partition)
				left--
			}
		})
	}
	return n, nil
}

func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
