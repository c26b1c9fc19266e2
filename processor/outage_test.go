package processor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/serve"
	"github.com/weirstream/weir/topology"
)

// Two versions of one event: v2 adds a field with a default, so v1
// readers decode it once they have fetched its schema.
const (
	outageEvV1 = `{"type":"record","name":"Ev","namespace":"test.weir","fields":[
		{"name":"id","type":"string"}]}`
	outageEvV2 = `{"type":"record","name":"Ev","namespace":"test.weir","fields":[
		{"name":"id","type":"string"},
		{"name":"note","type":"string","default":""}]}`
)

type outageEv struct {
	ID string `avro:"id"`
}

type outageEvV2T struct {
	ID   string `avro:"id"`
	Note string `avro:"note"`
}

// Registry modes of flakyRegistry.
const (
	registryUp int32 = iota
	registryDown
	registryHangs
)

// flakyRegistry stands in front of the test's srfake registry: up, it
// passes requests on; down, it answers 503; hanging, it answers only when
// the client gives up (or the test ends). hits says a request met the
// outage. Being a handler the test switches, the outage is exact.
type flakyRegistry struct {
	proxy   *httputil.ReverseProxy
	mode    atomic.Int32
	hits    chan struct{}
	release chan struct{}
	URL     string
}

func newFlakyRegistry(t *testing.T, target string) *flakyRegistry {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyRegistry{proxy: httputil.NewSingleHostReverseProxy(u), hits: make(chan struct{}, 1), release: make(chan struct{})}
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(f.release) }) // runs first: frees hanging requests
	f.URL = s.URL
	return f
}

func (f *flakyRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mode := f.mode.Load()
	if mode == registryUp {
		f.proxy.ServeHTTP(w, r)
		return
	}
	select {
	case f.hits <- struct{}{}:
	default:
	}
	if mode == registryHangs {
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
	}
	http.Error(w, "registry down for the test", http.StatusServiceUnavailable)
}

// outageApp counts events per key; its source decodes Avro through a
// registry behind a flakyRegistry.
func outageApp(t *testing.T, c *kafkatest.Cluster, registryURL string, regOpts ...avro.RegistryOpt) (in, counts string, topo *topology.Topology) {
	t.Helper()
	in, counts = c.Name("in"), c.Name("counts")
	hc, err := avro.NewHTTPRegistryClient(registryURL, avro.RequestTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := avro.NewRegistry(hc, append([]avro.RegistryOpt{
		avro.RetryAttempts(2), avro.RetryBackoff(time.Millisecond, 10*time.Millisecond), avro.RetryTimeout(time.Second),
	}, regOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := avro.New[outageEv](reg, outageEvV1)
	if err != nil {
		t.Fatal(err)
	}
	b := topology.New(c.Name("app"))
	ids := topology.MapValues(topology.StreamOf(b, in, codec.String(), evs), "id", func(_ string, e outageEv) string { return e.ID })
	topology.GroupByKey(ids, codec.String(), codec.String()).Count("counts").
		ToStream("counts-out").To(counts, codec.String(), codec.Int64())
	if topo, err = b.Build(); err != nil {
		t.Fatal(err)
	}
	return in, counts, topo
}

// producerSerdes registers both event versions straight in srfake.
func producerSerdes(t *testing.T, registry string) (*avro.Serde[outageEv], *avro.Serde[outageEvV2T]) {
	t.Helper()
	hc, err := avro.NewHTTPRegistryClient(registry)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := avro.NewRegistry(hc)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := avro.New[outageEv](reg, outageEvV1, avro.AutoRegister())
	if err != nil {
		t.Fatal(err)
	}
	v2, err := avro.New[outageEvV2T](reg, outageEvV2, avro.AutoRegister())
	if err != nil {
		t.Fatal(err)
	}
	return v1, v2
}

// TestRegistryOutagePausesOnlyAffectedTasks: the registry goes down
// mid-run (a handler answering 503, for as long as the test needs: the
// behaviour does not depend on the outage's length, which the issue put
// at 30s). Tasks 0 and 1 then meet records with a schema id the worker
// has not seen and pause; tasks 2 and 3 only see known ids and go on.
// /readyz says degraded and why, the paused-time metric grows, and once
// the registry is back the paused tasks resume by themselves. Final
// counts equal the model (each event counted once), and the dead-letter
// topic holds exactly the malformed records.
func TestRegistryOutagePausesOnlyAffectedTasks(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	flaky := newFlakyRegistry(t, c.Registry)
	in, counts, topo := outageApp(t, c, flaky.URL)
	const parts = 4
	c.CreateTopic(ctx, in, parts, nil)
	c.CreateTopic(ctx, counts, parts, nil)
	v1, v2 := producerSerdes(t, c.Registry)

	// Keys are per partition: a task's counts are its own.
	key := func(p int) string { return fmt.Sprintf("p%d-k%d", p, rng.IntN(5)) }
	pcl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(in))
	var recs []*kgo.Record
	want := map[string]int64{}
	event := func(p int, v2rec bool) {
		k := key(p)
		var b []byte
		var err error
		if v2rec {
			b, err = v2.Encode(in, outageEvV2T{ID: k, Note: "v2"})
		} else {
			b, err = v1.Encode(in, outageEv{ID: k})
		}
		if err != nil {
			t.Fatal(err)
		}
		want[k]++
		recs = append(recs, &kgo.Record{Partition: int32(p), Key: []byte(k), Value: b})
	}
	send := func() {
		t.Helper()
		if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		recs = nil
	}

	// Phase 1, registry up: known events, and malformed ones.
	sample, err := v1.Encode(in, outageEv{ID: "sample-id"})
	if err != nil {
		t.Fatal(err)
	}
	malformed := 0
	for p := range parts {
		for range 20 {
			event(p, false)
		}
		recs = append(recs,
			&kgo.Record{Partition: int32(p), Key: []byte("bad"), Value: append([]byte{1}, sample[1:]...)}, // wrong magic
			&kgo.Record{Partition: int32(p), Key: []byte("bad"), Value: sample[:len(sample)-3]})           // truncated
		malformed += 2
	}
	// An id the registry says does not exist: bad input, not an outage.
	recs = append(recs, &kgo.Record{Partition: 0, Key: []byte("bad"), Value: append([]byte{0, 0x7f, 0x7f, 0x7f, 0x7f}, sample[5:]...)})
	malformed++
	send()

	reg := prometheus.NewRegistry()
	w := start(t, topo, c.Brokers, t.TempDir(), processor.WithMetrics(serve.NewMetrics(reg)),
		processor.DependencyBackoff(20*time.Millisecond, 200*time.Millisecond))
	defer w.stop(t)
	api := httptest.NewServer(serve.New(w.app, serve.Options{Gatherer: reg}))
	defer api.Close()
	latestCounts(t, ctx, c, counts, want)

	// Phase 2, registry down: tasks 0 and 1 meet v2, 2 and 3 only v1.
	flaky.mode.Store(registryDown)
	unaffected := map[string]int64{}
	for p := range parts {
		for range 10 {
			event(p, p < 2)
		}
	}
	send()
	for k, n := range want {
		if !strings.HasPrefix(k, "p0-") && !strings.HasPrefix(k, "p1-") {
			unaffected[k] = n
		}
	}
	countsReach(t, ctx, c, counts, want, unaffected, codec.Int64()) // progress during the outage
	reasons := waitDegraded(t, ctx, w.app, func(r []string) bool { return len(r) == 2 })
	for i, task := range []string{"task 0_0 ", "task 0_1 "} {
		if !strings.HasPrefix(reasons[i], task) || !strings.Contains(reasons[i], "registry-unavailable") {
			t.Errorf("degraded reason %q, want %q paused for registry-unavailable", reasons[i], task)
		}
	}
	status, body := get(t, api.URL+"/readyz")
	if status != http.StatusOK || !strings.Contains(body, `"status":"degraded"`) || !strings.Contains(body, "registry-unavailable") {
		t.Errorf("/readyz during the outage: %d %s", status, body)
	}
	if flaky.mode.Load() != registryDown {
		t.Fatal("the outage ended before its checks")
	}

	// Phase 3, registry back: everything is counted, once.
	flaky.mode.Store(registryUp)
	latestCounts(t, ctx, c, counts, want)
	waitDegraded(t, ctx, w.app, func(r []string) bool { return len(r) == 0 })
	if status, body := get(t, api.URL+"/readyz"); status != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz after the outage: %d %q", status, body)
	}
	if s := gatheredSum(t, reg, "weir_task_paused_seconds_total"); s <= 0 {
		t.Errorf("weir_task_paused_seconds_total = %v, want > 0", s)
	}
	if s := gatheredSum(t, reg, "weir_tasks_paused"); s != 0 {
		t.Errorf("weir_tasks_paused = %v after recovery, want 0", s)
	}
	dead := deadLetters(t, ctx, c, topo.DeadLetterTopic())
	if len(dead) != malformed {
		t.Errorf("%d dead letters, want exactly the %d malformed records", len(dead), malformed)
	}
	for _, r := range dead {
		if kind := headerOf(r, codec.HeaderErrorKind); kind == string(codec.KindRegistryUnavailable) || string(r.Key) != "bad" {
			t.Errorf("dead letter %q of kind %q: a valid record was dead-lettered", r.Key, kind)
		}
	}
}

// TestStopDuringOutageIsPrompt: a registry that never answers (its
// clients' own time budgets set to an hour) does not hold up a worker's
// stop: the task core's serde call ends with the worker's context.
func TestStopDuringOutageIsPrompt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	flaky := newFlakyRegistry(t, c.Registry)
	in, _, topo := outageApp(t, c, flaky.URL, avro.RetryTimeout(time.Hour), avro.ContextRetryTimeout(time.Hour))
	c.CreateTopic(ctx, in, 1, nil)
	c.CreateTopic(ctx, c.Name("counts"), 1, nil)
	_, v2 := producerSerdes(t, c.Registry)
	b, err := v2.Encode(in, outageEvV2T{ID: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Client().ProduceSync(ctx, &kgo.Record{Topic: in, Key: []byte("k"), Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	flaky.mode.Store(registryHangs)
	w := start(t, topo, c.Brokers, t.TempDir())
	select {
	case <-flaky.hits: // the worker is inside a registry call
	case <-ctx.Done():
		t.Fatal("the worker never asked the registry")
	}
	stopped := time.Now()
	w.cancel()
	select {
	case err := <-w.done:
		if err != nil {
			t.Fatalf("worker stopped with: %v", err)
		}
		t.Logf("stopped %v after cancel", time.Since(stopped))
	case <-time.After(30 * time.Second): // the registry's budget is an hour
		t.Fatal("the worker did not stop within 30s of cancel: it waits on the registry")
	}
}

// countsReach reads counts until every key in reach shows its count
// there, failing on a count above the model's (want).
func countsReach(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string, want, reach map[string]int64, vs codec.Serde[int64]) {
	t.Helper()
	got := map[string]int64{}
	reached := 0
	_, err := c.ReadCommittedUntil(ctx, topic, func(r *kgo.Record) bool {
		n, err := vs.Decode(topic, r.Value)
		if err != nil {
			t.Errorf("bad count record: %v", err)
			return true
		}
		k := string(r.Key)
		if n > want[k] {
			t.Errorf("key %s counted %d, more than the %d events sent", k, n, want[k])
			return true
		}
		if r, ok := reach[k]; ok && got[k] < r && n >= r {
			reached++
		}
		got[k] = max(got[k], n)
		return reached == len(reach)
	})
	if err != nil {
		t.Fatalf("counts: %v; got %v want %v", err, got, reach)
	}
}

// TestOutageWhileEncodingRewinds: the registry is down from the start,
// so the sink's first encode (its schema id not known yet) fails after the
// record's count was written to the pending state. The worker aborts the
// transaction, rewinds every task and retries the paused task after its
// backoff: once the registry is back each event is counted once, and
// nothing is dead-lettered. At least once there is no transaction: the
// worker rebuilds its session and reopens its tasks from their checkpoints.
func TestOutageWhileEncodingRewinds(t *testing.T) {
	t.Run("exactly-once", func(t *testing.T) { testOutageWhileEncoding(t, processor.ExactlyOnce) })
	t.Run("at-least-once", func(t *testing.T) { testOutageWhileEncoding(t, processor.AtLeastOnce) })
}

func testOutageWhileEncoding(t *testing.T, g processor.Guarantee) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	flaky := newFlakyRegistry(t, c.Registry)
	hc, err := avro.NewHTTPRegistryClient(flaky.URL)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := avro.NewRegistry(hc, avro.RetryAttempts(2), avro.RetryBackoff(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	counts, err := avro.New[int64](reg, `"long"`, avro.AutoRegister())
	if err != nil {
		t.Fatal(err)
	}
	in, out := c.Name("in"), c.Name("counts")
	b := topology.New(c.Name("app"))
	topology.GroupByKey(topology.StreamOf(b, in, codec.String(), codec.String()), codec.String(), codec.String()).
		Count("counts").ToStream("counts-out").To(out, codec.String(), counts)
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	c.CreateTopic(ctx, in, 2, nil)
	c.CreateTopic(ctx, out, 2, nil)
	want := map[string]int64{}
	produce(t, ctx, c, in, seed, 200, want)

	flaky.mode.Store(registryDown)
	aborts := &abortCount{}
	w := start(t, topo, c.Brokers, t.TempDir(), processor.WithMetrics(aborts), processor.ProcessingGuarantee(g),
		processor.DependencyBackoff(20*time.Millisecond, 100*time.Millisecond))
	defer w.stop(t)
	select {
	case <-flaky.hits: // a sink's encode met the outage
	case <-ctx.Done():
		t.Fatal("the worker never asked the registry")
	}
	if g == processor.ExactlyOnce {
		waitDegraded(t, ctx, w.app, func(r []string) bool { return len(r) > 0 })
		for aborts.n.Load() == 0 {
			select {
			case <-ctx.Done():
				t.Fatal("no transaction aborted after the interrupted encode")
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	flaky.mode.Store(registryUp)
	countsReach(t, ctx, c, out, want, want, counts)
	if dead := deadLetters(t, ctx, c, topo.DeadLetterTopic()); len(dead) != 0 {
		t.Errorf("%d dead letters, want 0", len(dead))
	}
}

// abortCount counts aborted transactions.
type abortCount struct{ n atomic.Int64 }

func (a *abortCount) Processed(topology.TaskID, topology.TaskStats) {}
func (a *abortCount) Committed(_ time.Duration, ok bool) {
	if !ok {
		a.n.Add(1)
	}
}
func (a *abortCount) Restored(string, int32, int64, int64) {}
func (a *abortCount) EndToEnd(time.Duration)               {}
func (a *abortCount) Lag(string, int32, int64)             {}

func waitDegraded(t *testing.T, ctx context.Context, app *processor.App, done func([]string) bool) []string {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		r := app.Degraded()
		if done(r) {
			return r
		}
		select {
		case <-ctx.Done():
			t.Fatalf("degraded reasons %q: condition not reached: %v", r, ctx.Err())
		case <-tick.C:
		}
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func gatheredSum(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func headerOf(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// deadLetters reads every committed record of the dead-letter topic: a
// marker written to each partition after the worker's last commit ends
// the read.
func deadLetters(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string) []*kgo.Record {
	t.Helper()
	md, err := c.Admin().Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	parts := len(md.Topics[topic].Partitions)
	if parts == 0 {
		t.Fatalf("dead-letter topic %s has no partitions", topic)
	}
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range parts {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: int32(p), Key: []byte("marker")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var out []*kgo.Record
	markers := 0
	if _, err := c.ReadCommittedUntil(ctx, topic, func(r *kgo.Record) bool {
		if string(r.Key) == "marker" {
			markers++
		} else {
			out = append(out, r)
		}
		return markers == parts
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDependencyBackoffValidated(t *testing.T) {
	topo, err := func() (*topology.Topology, error) {
		b := topology.New("app")
		topology.StreamOf(b, "in", codec.String(), codec.String()).To("out", codec.String(), codec.String())
		return b.Build()
	}()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []processor.Opt{
		processor.DependencyBackoff(0, time.Second),
		processor.DependencyBackoff(time.Second, time.Millisecond),
	} {
		_, err := processor.New(topo, processor.SeedBrokers("localhost:9092"), o)
		if !errors.Is(err, processor.ErrConfig) || !strings.Contains(err.Error(), "DependencyBackoff") {
			t.Errorf("got %v, want ErrConfig naming DependencyBackoff", err)
		}
	}
}
