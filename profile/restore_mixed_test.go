package profile

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// TestRestoreFromMixedChangelogs upgrades state in place: between runs, a
// changelog gets, for about half of its keys, the value an older version
// would have written (JSON profiles, customer rows and join references,
// and the join stores' time-index records, which changelogs used to
// carry). One application restores such changelogs each run (the
// second run from an empty state directory, the third from the first
// run's directory, so only the tail); another reads the same input with
// nothing rewritten and no restore. Both write the same profile updates
// and triggers, record for record.
func TestRestoreFromMixedChangelogs(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	tp := PrefixedTopics(c.Name("") + ".")
	inputs := []string{tp.Views, tp.Purchases, tp.Tickets, tp.Customers}
	for _, topic := range append(inputs, tp.Products) {
		c.CreateTopic(ctx, topic, 1, nil)
	}
	sd := JSONSerdes()
	type app struct {
		topo *topology.Topology
		out  Topics
	}
	newApp := func(name string) app {
		id := c.Name(name)
		out := tp
		out.Updates, out.Triggers = id+".updates", id+".triggers"
		c.CreateTopic(ctx, out.Updates, 1, nil)
		c.CreateTopic(ctx, out.Triggers, 1, nil)
		topo, err := Topology(Config{AppID: id, Topics: out, Serdes: sd, Emit: PerEvent, BadInput: topology.DeadLetter})
		mustNo(t, err)
		return app{topo, out}
	}
	plain, mixed := newApp("plain"), newApp("mixed")

	// run runs a worker of a until the group committed all its input.
	run := func(a app, dir string) {
		t.Helper()
		w, err := processor.New(a.topo, processor.SeedBrokers(c.Brokers...), processor.StateDir(dir),
			processor.CommitInterval(20*time.Millisecond), processor.Logger(zap.NewNop()))
		mustNo(t, err)
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(wctx) }()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for !committedAll(t, ctx, c, a.topo.AppID(), inputs) {
			select {
			case <-tick.C:
			case err := <-done:
				t.Fatalf("seed %d: worker stopped: %v", seed, err)
			case <-ctx.Done():
				t.Fatalf("seed %d: input not committed", seed)
			}
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("seed %d: worker: %v", seed, err)
		}
	}

	recs := Generate(seed, 6000, GenOptions{Customers: 40})
	rng := rand.New(rand.NewPCG(seed, 5))
	plainDir, firstDir := t.TempDir(), t.TempDir()
	rewritten := 0
	for phase, dir := range []string{firstDir, t.TempDir(), firstDir} {
		part := recs[phase*len(recs)/3 : (phase+1)*len(recs)/3]
		out := make([]*kgo.Record, 0, len(part))
		for _, r := range part {
			r.Topic = tp.Of(r)
			k, v, err := r.Encode(sd)
			mustNo(t, err)
			out = append(out, &kgo.Record{Topic: r.Topic, Key: k, Value: v, Timestamp: r.Time})
		}
		mustNo(t, c.Client().ProduceSync(ctx, out...).FirstErr())
		if phase > 0 {
			rewritten += writeOldValues(t, ctx, c, rng, mixed.topo)
		}
		run(plain, plainDir)
		run(mixed, dir)
	}
	if rewritten < 50 {
		t.Fatalf("seed %d: only %d old values written", seed, rewritten)
	}
	for _, topic := range []func(Topics) string{
		func(o Topics) string { return o.Updates }, func(o Topics) string { return o.Triggers },
	} {
		want, got := readValues(t, ctx, c, topic(plain.out)), readValues(t, ctx, c, topic(mixed.out))
		if len(want) < 100 && topic(plain.out) == plain.out.Updates {
			t.Fatalf("seed %d: only %d updates", seed, len(want))
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d: %s: %d records after restoring old values; %d without", seed, topic(mixed.out), len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("seed %d: %s record %d:\n got %s\nwant %s", seed, topic(mixed.out), i, got[i], want[i])
			}
		}
	}
}

// committedAll reports whether group committed every record of topics.
func committedAll(t *testing.T, ctx context.Context, c *kafkatest.Cluster, group string, topics []string) bool {
	t.Helper()
	ends, err := c.Admin().ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	mustNo(t, err)
	offs, err := c.Admin().FetchOffsets(ctx, group)
	if err == nil {
		err = offs.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return false // not joined yet
	}
	mustNo(t, err)
	done := true
	ends.Each(func(e kadm.ListedOffset) {
		if o, ok := offs.Lookup(e.Topic, e.Partition); e.Offset > 0 && (!ok || o.At < e.Offset) {
			done = false
		}
	})
	return done
}

// readAll returns the committed records of partition 0 of topic, to its
// end.
func readAll(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string) []*kgo.Record {
	t.Helper()
	mustNo(t, c.WaitSettled(ctx, topic))
	ends, err := c.Admin().ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	mustNo(t, err)
	end, _ := ends.Lookup(topic, 0)
	cl := c.Client(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	var out []*kgo.Record
	for pos := int64(0); pos < end.Offset; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s to %d: at %d: %v", topic, end.Offset, pos, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			pos = max(pos, r.Offset+1)
			if !r.Attrs.IsControl() && r.Offset < end.Offset {
				out = append(out, r)
			}
		})
	}
	return out
}

func readValues(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, r := range readAll(t, ctx, c, topic) {
		out = append(out, r.Value)
	}
	return out
}

// writeOldValues appends to each changelog of topo, for about half of
// its live keys, the value as a version before the binary state encoding
// wrote it (JSON), and to the join stores' changelogs the index record of
// each of those windows, as versions before the derived index did. It
// returns how many values it wrote.
func writeOldValues(t *testing.T, ctx context.Context, c *kafkatest.Cluster, rng *rand.Rand, topo *topology.Topology) int {
	t.Helper()
	var out []*kgo.Record
	for _, st := range topo.Stores() {
		if st.Changelog == "" {
			continue
		}
		latest := map[string][]byte{}
		var order []string
		for _, r := range readAll(t, ctx, c, st.Changelog) {
			if _, ok := latest[string(r.Key)]; !ok {
				order = append(order, string(r.Key))
			}
			latest[string(r.Key)] = r.Value
		}
		for _, k := range order {
			v := latest[k]
			if v == nil || rng.IntN(2) == 0 {
				continue
			}
			var old []byte
			var err error
			switch st.Kind {
			case topology.KindWindow:
				if k[0] == 't' {
					continue // an index record written earlier
				}
				old = oldJoinBuffer(t, st.Changelog, st.Name, v)
				out = append(out, &kgo.Record{Topic: st.Changelog, Key: oldIndexKey(t, []byte(k)), Value: []byte{}})
			default:
				switch st.Name {
				case StoreProfiles:
					s, derr := storedCodec.Decode(st.Changelog, v)
					mustNo(t, derr)
					old, err = json.Marshal(s)
				case StoreCartTimers:
					continue // raw keys, empty values: no format
				default: // the customers table
					cr, derr := customerRows(nil).Decode(st.Changelog, v)
					mustNo(t, derr)
					old, err = json.Marshal(cr)
				}
			}
			mustNo(t, err)
			out = append(out, &kgo.Record{Topic: st.Changelog, Key: []byte(k), Value: old})
		}
	}
	mustNo(t, c.Client().ProduceSync(ctx, out...).FirstErr())
	return len(out)
}

// oldJoinBuffer re-encodes each reference of a join buffer (flag, length,
// value) in JSON, keeping its flag.
func oldJoinBuffer(t *testing.T, topic, store string, b []byte) []byte {
	t.Helper()
	var out []byte
	for len(b) > 0 {
		flag := b[0]
		n, w := binary.Uvarint(b[1:])
		if w <= 0 || int(n) > len(b)-1-w {
			t.Fatalf("%s: bad join buffer", topic)
		}
		v := b[1+w : 1+w+int(n)]
		b = b[1+w+int(n):]
		var j []byte
		var err error
		if bytes.HasSuffix([]byte(store), []byte("-left")) {
			p, derr := purchaseRefCodec.Decode(topic, v)
			mustNo(t, derr)
			j, err = json.Marshal(p)
		} else {
			r, derr := viewRefCodec.Decode(topic, v)
			mustNo(t, derr)
			j, err = json.Marshal(r)
		}
		mustNo(t, err)
		out = append(out, flag)
		out = binary.AppendUvarint(out, uint64(len(j)))
		out = append(out, j...)
	}
	return out
}

// oldIndexKey is the time-index key of a window store's primary key:
// 'k' | len | key | start becomes 't' | start | len | key (state/layout.go).
func oldIndexKey(t *testing.T, k []byte) []byte {
	t.Helper()
	if len(k) < 13 || k[0] != 'k' {
		t.Fatalf("window key %q", k)
	}
	kl := 5 + int(binary.BigEndian.Uint32(k[1:5]))
	return slices.Concat([]byte{'t'}, k[kl:kl+8], k[1:kl])
}
