package processor_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// TestSecureConnection runs a worker over TLS and SASL/SCRAM-SHA-512:
// every client it builds (admin, group member, global-table reader and,
// on a fresh state directory, the restore reader) must connect that way.
// On tier 2 every kfake listener requires TLS and SCRAM, so a client
// built without them fails the test; on tier 3 the worker uses the real
// broker's SASL_SSL listener.
func TestSecureConnection(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c, sec := kafkatest.NewSecure(t)
	in, ref, counts := c.Name("in"), c.Name("ref"), c.Name("counts")
	c.CreateTopic(ctx, in, 3, nil)
	c.CreateTopic(ctx, ref, 1, nil)
	c.CreateTopic(ctx, counts, 3, nil)
	if err := c.Client().ProduceSync(ctx, &kgo.Record{Topic: ref, Key: []byte("x"), Value: []byte("known")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Counts per key of the records joined with a global table.
	b := topology.New(c.Name("app"))
	g := topology.GlobalTableOf(b, ref, codec.String(), codec.String())
	joined := topology.LeftJoinGlobal(topology.StreamOf(b, in, codec.String(), codec.String()), g, "ref",
		func(_ string, _ string) string { return "x" },
		func(_ string, v string, r string, _ bool) string { return v + r })
	topology.GroupByKey(joined, codec.String(), codec.String()).Count("counts").
		ToStream("counts-out").To(counts, codec.String(), codec.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	kinds := &clientKinds{global: ref, seen: map[string]string{}}
	secure := []processor.Opt{
		processor.TLS(sec.TLSConfig()),
		processor.SASL(sec.Mechanism, sec.User, sec.Password),
		processor.ClientID("weir-secure-test"),
		processor.KafkaOpts(kgo.WithHooks(kinds)),
	}

	want := map[string]int64{}
	produce(t, ctx, c, in, seed, 500, want)
	w := start(t, topo, sec.Brokers, t.TempDir(), secure...)
	latestCounts(t, ctx, c, counts, want)
	w.stop(t)

	// A fresh state directory restores the counts from the changelog
	// over the secured listener, then goes on exactly once.
	produce(t, ctx, c, in, seed+1, 200, want)
	w = start(t, topo, sec.Brokers, t.TempDir(), secure...)
	latestCounts(t, ctx, c, counts, want)
	w.stop(t)

	// KafkaOpts and ClientID reached every kind of client.
	kinds.mu.Lock()
	defer kinds.mu.Unlock()
	for _, k := range []string{"admin", "group", "global", "restore"} {
		id, ok := kinds.seen[k]
		if !ok {
			t.Errorf("no %s client was built with the KafkaOpts hook (seen %v)", k, kinds.seen)
		} else if id != "weir-secure-test" {
			t.Errorf("%s client has client id %q, want weir-secure-test", k, id)
		}
	}
}

// clientKinds is a franz-go hook, passed with KafkaOpts, that records
// each new client's kind and client id.
type clientKinds struct {
	global string // the global table's topic
	mu     sync.Mutex
	seen   map[string]string // kind -> client id
}

func (k *clientKinds) OnNewClient(cl *kgo.Client) {
	kind := "admin"
	if g, _ := cl.OptValue(kgo.ConsumerGroup).(string); g != "" {
		kind = "group"
	} else if ps, _ := cl.OptValue(kgo.ConsumePartitions).(map[string]map[int32]kgo.Offset); len(ps) > 0 {
		kind = "restore"
		if _, ok := ps[k.global]; ok {
			kind = "global"
		}
	}
	id, _ := cl.OptValue(kgo.ClientID).(string)
	k.mu.Lock()
	k.seen[kind] = id
	k.mu.Unlock()
}

// TestWrongPasswordFailsStartup: a rejected SASL password ends Run
// within 30 s with a configuration error naming the mechanism and the
// broker, instead of retrying for ever.
func TestWrongPasswordFailsStartup(t *testing.T) {
	c, sec := kafkatest.NewSecure(t)
	in, out := c.Name("in"), c.Name("out")
	b := topology.New(c.Name("app"))
	topology.StreamOf(b, in, codec.String(), codec.String()).To(out, codec.String(), codec.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := processor.New(topo,
		processor.SeedBrokers(sec.Brokers...),
		processor.StateDir(t.TempDir()),
		processor.TLS(sec.TLSConfig()),
		processor.SASL(sec.Mechanism, sec.User, sec.Password+"-wrong"),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()
	err = app.Run(ctx)
	took := time.Since(began)
	if err == nil {
		t.Fatal("Run with a wrong password returned nil")
	}
	t.Logf("after %v: %v", took.Round(time.Millisecond), err)
	if took > 30*time.Second {
		t.Errorf("start-up took %v to fail, want under 30s", took)
	}
	if !errors.Is(err, processor.ErrConfig) {
		t.Errorf("error is not processor.ErrConfig: %v", err)
	}
	for _, s := range []string{sec.Mechanism, sec.Brokers[0], `"` + sec.User + `"`, "password"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not name %q: %v", s, err)
		}
	}
}

// TestConnectionOptionsValidated: mistakes in the connection options
// fail New and say what to change.
func TestConnectionOptionsValidated(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "in", codec.String(), codec.String()).To("out", codec.String(), codec.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opt  processor.Opt
		want []string
	}{
		{"unknown mechanism", processor.SASL("GSSAPI", "u", "p"), []string{`"GSSAPI"`, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}},
		{"no user", processor.SASL("SCRAM-SHA-256", "", "p"), []string{"SCRAM-SHA-256", "empty user"}},
		{"no password", processor.SASL("plain", "u", ""), []string{"PLAIN", "empty password", `"u"`}},
		{"nil kafka option", processor.KafkaOpts(kgo.ClientID("x"), nil), []string{"KafkaOpts", "option 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := processor.New(topo, processor.SeedBrokers("127.0.0.1:9092"), tc.opt)
			if !errors.Is(err, processor.ErrConfig) {
				t.Fatalf("New: %v, want ErrConfig", err)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not say %q: %v", s, err)
				}
			}
		})
	}
	for _, m := range []string{"PLAIN", "scram-sha-256", "SCRAM-SHA-512"} {
		if _, err := processor.New(topo, processor.SeedBrokers("127.0.0.1:9092"), processor.SASL(m, "u", "p")); err != nil {
			t.Errorf("SASL(%q): %v", m, err)
		}
	}
}

// TestConnectionMistakesFailFast: TLS against a plaintext listener, an
// untrusted CA and a plaintext client on a TLS listener each end Run in
// well under 30 s with ErrConfig naming the broker, instead of retrying.
func TestConnectionMistakesFailFast(t *testing.T) {
	c, sec := kafkatest.NewSecure(t)
	b := topology.New(c.Name("app"))
	topology.StreamOf(b, c.Name("in"), codec.String(), codec.String()).To(c.Name("out"), codec.String(), codec.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	scram := processor.SASL(sec.Mechanism, sec.User, sec.Password)
	type mistake struct {
		name    string
		brokers []string
		opts    []processor.Opt
		want    string
	}
	cases := []mistake{
		{"untrusted CA", sec.Brokers, []processor.Opt{processor.TLS(nil), scram}, "trusted CA"},
		{"plaintext to a TLS listener", sec.Brokers, []processor.Opt{scram}, "TLS"},
	}
	// Only a real broker: kfake's plaintext listener takes a TLS
	// ClientHello for the start of a huge request and waits for the
	// rest, where Kafka closes the connection at once.
	if c.Real {
		cases = append(cases, mistake{"TLS to a plaintext listener", c.Brokers, []processor.Opt{processor.TLS(sec.TLSConfig())}, "TLS"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app, err := processor.New(topo, append([]processor.Opt{
				processor.SeedBrokers(tc.brokers...), processor.StateDir(t.TempDir()),
			}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			began := time.Now()
			err = app.Run(ctx)
			took := time.Since(began)
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
			if took > 30*time.Second {
				t.Errorf("took %v to fail", took)
			}
			if !errors.Is(err, processor.ErrConfig) {
				t.Fatalf("want ErrConfig, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.brokers[0]) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not name the broker %s and say %q: %v", tc.brokers[0], tc.want, err)
			}
		})
	}
}
