package processor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// TestRepartitionedCount re-keys records (customer -> region, the part of
// the key before the dash) before counting, so the count runs in a second
// sub-topology fed by a repartition topic written in the same
// transactions; two workers share the tasks.
func TestRepartitionedCount(t *testing.T) {
	c, topo := testRepartitionedCount(t)
	internalTopicConfigs(t, c, topo)
}

// internalTopicConfigs checks the configs Weir gives the topics it
// creates: changelogs compact, repartition topics keep records until the
// downstream task has read them, and dead letters expire by the time
// they arrived, not by their (possibly old) event time.
func internalTopicConfigs(t *testing.T, c *kafkatest.Cluster, topo *topology.Topology) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := map[string]map[string]string{
		topo.DeadLetterTopic(): {"cleanup.policy": "delete", "message.timestamp.type": "LogAppendTime"},
	}
	kinds := map[topology.InternalTopicKind]bool{}
	for _, it := range topo.InternalTopics() {
		kinds[it.Kind] = true
		switch it.Kind {
		case topology.Changelog:
			want[it.Name] = map[string]string{"cleanup.policy": "compact"}
		case topology.Repartition:
			want[it.Name] = map[string]string{"cleanup.policy": "delete", "retention.ms": "-1"}
		}
	}
	if !kinds[topology.Changelog] || !kinds[topology.Repartition] {
		t.Fatalf("topology has internal topics %v, want a changelog and a repartition topic", topo.InternalTopics())
	}
	for topic, cfgs := range want {
		rcs, err := c.Admin().DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil {
			t.Fatalf("describe %s: %v", topic, err)
		}
		got := map[string]string{}
		for _, cfg := range rc.Configs {
			if cfg.Value != nil {
				got[cfg.Key] = *cfg.Value
			}
		}
		for k, v := range cfgs {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", topic, k, got[k], v)
			}
		}
	}
}

// TestAtLeastOnce runs the repartitioned count without transactions;
// with clean stops it must still be exact.
func TestAtLeastOnce(t *testing.T) {
	testRepartitionedCount(t, processor.ProcessingGuarantee(processor.AtLeastOnce))
}

func testRepartitionedCount(t *testing.T, opts ...processor.Opt) (*kafkatest.Cluster, *topology.Topology) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	in, counts := c.Name("in"), c.Name("counts")
	c.CreateTopic(ctx, in, 4, nil)
	c.CreateTopic(ctx, counts, 2, nil)

	b := topology.New(c.Name("app"))
	s := topology.StreamOf(b, in, codec.String(), codec.String())
	topology.GroupBy(s, "by-region", func(k, _ string) string { return strings.SplitN(k, "-", 2)[0] },
		codec.String(), codec.String()).
		Count("region-counts").ToStream("region-changes").To(counts, codec.String(), codec.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(topo.Subtopologies()); got != 2 {
		t.Fatalf("%d sub-topologies, want 2 (re-keying must split the program)", got)
	}

	keys := []string{}
	regions := []string{"eu", "us", "apac"}
	for i := range 3000 {
		keys = append(keys, regions[(i*7+int(seed%5))%3]+"-c"+string(rune('a'+i%26)))
	}
	perKey := map[string]int64{}
	produceList(t, ctx, c, in, keys, perKey)
	want := map[string]int64{}
	for k, n := range perKey {
		want[strings.SplitN(k, "-", 2)[0]] += n
	}
	w1 := start(t, topo, c.Brokers, t.TempDir(), opts...)
	w2 := start(t, topo, c.Brokers, t.TempDir(), opts...)
	latestCounts(t, ctx, c, counts, want)
	w1.stop(t)
	w2.stop(t)
	return c, topo
}
