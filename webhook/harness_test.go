package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
)

const testSecret = "test-secret-0123456789"

// rig is a test cluster with a trigger topic, its dead-letter topic and
// the triggers produced to it.
type rig struct {
	c        *kafkatest.Cluster
	topic    string
	dlq      string
	serde    *avro.Serde[events.Trigger]
	triggers []events.Trigger
	ends     map[int32]int64 // per partition, the offset after the last record
	seed     uint64
}

func newRig(t *testing.T, ctx context.Context) *rig {
	t.Helper()
	c := kafkatest.New(t)
	r := &rig{c: c, topic: c.Name("triggers"), ends: map[int32]int64{}, seed: uint64(time.Now().UnixNano())}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("random seed %d", r.seed)
		}
	})
	r.dlq = r.topic + "-webhook-dlq"
	c.CreateTopic(ctx, r.topic, 3, nil)
	c.CreateTopic(ctx, r.dlq, 1, nil)
	rc, err := avro.NewHTTPRegistryClient(c.Registry)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		t.Fatal(err)
	}
	if r.serde, err = events.TriggerSerde(reg, avro.AutoRegister()); err != nil {
		t.Fatal(err)
	}
	return r
}

// produce writes n triggers of mixed types, and extra raw values after
// them (records that do not decode).
func (r *rig) produce(t *testing.T, ctx context.Context, n int, raw ...[]byte) {
	t.Helper()
	types := []events.TriggerType{events.CartAbandoned, events.AtRisk, events.HighIntent}
	cl := r.c.Client(kgo.RequiredAcks(kgo.AllISRAcks()))
	var recs []*kgo.Record
	for i := range n {
		tr := events.Trigger{
			TriggerID: fmt.Sprintf("c-%d:%s:%d", i%40, types[i%3], i), CustomerID: fmt.Sprintf("c-%d", i%40),
			Type: types[i%3], FiredAt: time.UnixMilli(1_800_000_000_000 + int64(i)).UTC(), Score: 0.5,
			Reason: "test", Attributes: map[string]string{"i": fmt.Sprint(i)},
		}
		v, err := r.serde.Encode(r.topic, tr)
		if err != nil {
			t.Fatal(err)
		}
		r.triggers = append(r.triggers, tr)
		recs = append(recs, &kgo.Record{Topic: r.topic, Key: []byte(tr.CustomerID), Value: v})
	}
	for _, v := range raw {
		recs = append(recs, &kgo.Record{Topic: r.topic, Key: []byte("c-bad"), Value: v})
	}
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, pr := range res {
		r.ends[pr.Record.Partition] = max(r.ends[pr.Record.Partition], pr.Record.Offset+1)
	}
}

// options are a deliverer's options for the rig: small timeouts and
// backoffs so tests finish in seconds, the seeded rand, and commits
// reported to the returned watcher.
func (r *rig) options(t *testing.T, group string, eps ...Endpoint) (Options, *commits) {
	cm := &commits{at: map[int32]int64{}, changed: make(chan struct{}, 1)}
	return Options{
		Kafka:          []processor.Opt{processor.SeedBrokers(r.c.Brokers...)},
		Topic:          r.topic,
		Group:          group,
		Serde:          r.serde,
		Endpoints:      eps,
		MaxAttempts:    4,
		InitialBackoff: 20 * time.Millisecond,
		MaxBackoff:     200 * time.Millisecond,
		RequestTimeout: 200 * time.Millisecond,
		MaxInFlight:    16,
		CommitInterval: 50 * time.Millisecond,
		rand:           rand.New(rand.NewPCG(r.seed, 1)),
		onCommit:       cm.note,
	}, cm
}

// start runs a deliverer until the returned stop is called; stop
// returns Run's error.
func start(t *testing.T, ctx context.Context, o Options) (stop func() error) {
	t.Helper()
	d, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(rctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
			d.Close()
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// commits is what a deliverer committed, per partition.
type commits struct {
	mu      sync.Mutex
	at      map[int32]int64
	changed chan struct{}
}

func (c *commits) note(_ string, p int32, off int64) {
	c.mu.Lock()
	c.at[p] = max(c.at[p], off)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// waitFor waits until every partition's commit reaches ends.
func (c *commits) waitFor(t *testing.T, ctx context.Context, ends map[int32]int64) {
	t.Helper()
	for {
		c.mu.Lock()
		reached := true
		for p, end := range ends {
			reached = reached && c.at[p] >= end
		}
		got := fmt.Sprint(c.at)
		c.mu.Unlock()
		if reached {
			return
		}
		select {
		case <-c.changed:
		case <-ctx.Done():
			t.Fatalf("committed offsets %s never reached the ends %v", got, ends)
		}
	}
}

// receiver is a personalization engine: per trigger id, a plan of
// answers for its first attempts, then 200.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	plans     map[string][]int // per path/id, answers before 200; hang: until the request ends
	always    map[string]int   // per path/id or path, the answer after the plan instead of 200
	attempts  map[string]int   // per trigger id and path
	delivered map[string]int   // per trigger id and path: 2xx answers
	bad       []string         // what a correct sender never does
	firsts    chan string      // each trigger id's first 2xx, path/id
	oneSender bool             // one deliverer, never restarted: attempts are counted exactly
}

const hang = -1

func newReceiver(t *testing.T) *receiver {
	rv := &receiver{t: t, plans: map[string][]int{}, always: map[string]int{}, attempts: map[string]int{}, delivered: map[string]int{}, firsts: make(chan string, 10000)}
	rv.srv = httptest.NewServer(http.HandlerFunc(rv.serve))
	t.Cleanup(rv.srv.Close)
	return rv
}

func (rv *receiver) plan(path, id string, answers ...int) {
	rv.mu.Lock()
	rv.plans[path+"/"+id] = answers
	rv.mu.Unlock()
}

func (rv *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var tr events.Trigger
	if err := json.Unmarshal(body, &tr); err != nil {
		rv.fail("body is not a trigger: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := Verify(testSecret, r.Header.Get(SignatureHeader), body, time.Now(), time.Minute); err != nil {
		rv.fail("trigger %s: %v", tr.TriggerID, err)
	}
	if got := r.Header.Get(HeaderIdempotencyKey); got != tr.TriggerID {
		rv.fail("Idempotency-Key %q for trigger %s", got, tr.TriggerID)
	}
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get(HeaderTriggerType) != string(tr.Type) {
		rv.fail("trigger %s: headers %v", tr.TriggerID, r.Header)
	}
	k := r.URL.Path + "/" + tr.TriggerID
	rv.mu.Lock()
	rv.attempts[k]++
	n := rv.attempts[k]
	// Without a restart the header counts this sender's attempts; a
	// restart starts again at 1.
	if got := r.Header.Get(HeaderAttempt); rv.oneSender && got != fmt.Sprint(n) {
		rv.bad = append(rv.bad, fmt.Sprintf("%s: attempt header %s at attempt %d", k, got, n))
	} else if a, err := strconv.Atoi(got); err != nil || a < 1 {
		rv.bad = append(rv.bad, fmt.Sprintf("%s: attempt header %q", k, got))
	}
	code := http.StatusOK
	if plan := rv.plans[k]; n <= len(plan) {
		code = plan[n-1]
	} else if c, ok := rv.always[k]; ok {
		code = c
	} else if c, ok := rv.always[r.URL.Path]; ok {
		code = c
	}
	if code == http.StatusOK {
		rv.delivered[k]++
		if rv.delivered[k] == 1 {
			rv.firsts <- k
		}
	}
	rv.mu.Unlock()
	switch code {
	case hang:
		<-r.Context().Done()
		return
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(code)
}

// refuse answers code to every request for key (a path, or path/id).
func (rv *receiver) refuse(key string, code int) {
	rv.mu.Lock()
	rv.always[key] = code
	rv.mu.Unlock()
}

func (rv *receiver) fail(format string, a ...any) {
	rv.mu.Lock()
	rv.bad = append(rv.bad, fmt.Sprintf(format, a...))
	rv.mu.Unlock()
}

func (rv *receiver) check(t *testing.T) {
	t.Helper()
	rv.mu.Lock()
	defer rv.mu.Unlock()
	for _, b := range rv.bad {
		t.Error(b)
	}
}
