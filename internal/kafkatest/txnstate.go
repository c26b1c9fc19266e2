package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// LogTransactions logs every partition of topics whose last stable offset
// lags its end (a read_committed reader cannot pass it), the producers
// holding those partitions open, and every transaction the cluster knows.
// Tests call it on failure to tell a stuck worker from a stuck
// transaction.
func (c *Cluster) LogTransactions(t testing.TB, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := c.admin.ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Logf("txn diag: end offsets: %v", err)
		return
	}
	stable, err := c.admin.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		t.Logf("txn diag: stable offsets: %v", err)
		return
	}
	stuck := kadm.TopicsSet{}
	ends.Each(func(e kadm.ListedOffset) {
		s, ok := stable.Lookup(e.Topic, e.Partition)
		if ok && s.Offset < e.Offset {
			t.Logf("txn diag: %s/%d stable %d end %d", e.Topic, e.Partition, s.Offset, e.Offset)
			stuck.Add(e.Topic, e.Partition)
		}
	})
	if len(stuck) > 0 {
		ps, err := c.admin.DescribeProducers(ctx, stuck)
		if err != nil {
			t.Logf("txn diag: describe producers: %v", err)
		}
		for _, p := range ps.SortedProducers() {
			if p.CurrentTxnStartOffset >= 0 {
				t.Logf("txn diag: %s/%d open txn from %d by producer %d epoch %d, last write %s",
					p.Topic, p.Partition, p.CurrentTxnStartOffset, p.ProducerID, p.ProducerEpoch,
					time.UnixMilli(p.LastTimestamp).UTC().Format(time.RFC3339Nano))
			}
		}
	}
	txns, err := c.admin.DescribeTransactions(ctx)
	if err != nil {
		t.Logf("txn diag: describe transactions: %v", err)
	}
	for _, d := range txns.Sorted() {
		t.Logf("txn diag: txn %s state %s producer %d/%d timeout %dms started %s partitions %v err %v",
			d.TxnID, d.State, d.ProducerID, d.ProducerEpoch, d.TimeoutMillis,
			time.UnixMilli(d.StartTimestamp).UTC().Format(time.RFC3339Nano), d.Topics.Sorted(), d.Err)
	}
}
