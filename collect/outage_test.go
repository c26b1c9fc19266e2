package collect_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirstream/weir/collect"
	"github.com/weirstream/weir/internal/kafkatest"
)

// newFakeRig is newRig on kfake whatever the tier: these tests inject
// faults into the broker, which only kfake lets them do.
func newFakeRig(t *testing.T, opts ...func(*collect.Options)) *rig {
	t.Setenv(kafkatest.EnvBrokers, "")
	r := newRig(t, opts...)
	if r.c.Fake == nil {
		t.Fatal("not on kfake")
	}
	return r
}

// Kafka stops taking writes in the middle of a batch: the first produce
// request lands, the rest and the commit fail. Nothing is acknowledged,
// nothing of the batch is visible to read_committed readers, the answer
// is 503 with Retry-After, and the client's retry, once Kafka is back,
// writes every event exactly once.
func TestCollectKafkaStoppedMidBatch(t *testing.T) {
	r := newFakeRig(t, func(o *collect.Options) { o.AckTimeout, o.Producers = 2*time.Second, 1 })
	if a := r.post(t, pageView("warm", "a-0")); a.status != 200 {
		t.Fatalf("warm-up: %+v", a)
	}
	var down atomic.Bool
	var produces, landed atomic.Int32
	r.c.Fake.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		r.c.Fake.KeepControl()
		if !down.Load() {
			return nil, nil, false
		}
		switch req.Key() {
		case kmsg.Produce.Int16():
			if produces.Add(1) == 1 {
				landed.Add(1)
				return nil, nil, false // the first lands
			}
			return nil, errors.New("broker stopped"), true
		case kmsg.EndTxn.Int16():
			return nil, errors.New("broker stopped"), true
		}
		return nil, nil, false
	})
	var evs []map[string]any
	for i := range 30 { // thirty customers: partitions on every broker
		evs = append(evs, pageView(fmt.Sprintf("mid-%d", i), fmt.Sprintf("a-%d", i)))
	}
	down.Store(true)
	a := r.post(t, evs...)
	if a.status != 503 || len(a.Accepted) != 0 || a.retryAfter == "" {
		t.Fatalf("answer during the outage %+v (Retry-After %q): want 503, nothing accepted, Retry-After", a, a.retryAfter)
	}
	if landed.Load() == 0 {
		t.Fatal("no produce request landed: the batch was not cut in the middle")
	}
	if got := r.readWritten(t, kgo.ReadCommitted(), false); len(got) != 1 {
		t.Fatalf("read_committed sees %v after the failed batch, want only the warm-up", keys(got))
	}
	// Refused at once while down: no request queues behind a dead cluster.
	if a := r.post(t, pageView("während", "a-1")); a.status != 503 {
		t.Fatalf("right after the failure: %+v, want 503", a)
	}

	down.Store(false)
	var retried answer
	for try := 0; ; try++ { // as a client does: wait Retry-After, send again
		if try == 20 {
			t.Fatalf("still refused after %d tries: %+v", try, retried)
		}
		wait, _ := strconv.Atoi(retried.retryAfter)
		time.Sleep(time.Duration(wait) * time.Second)
		if retried = r.post(t, evs...); retried.status != 503 {
			break
		}
	}
	if retried.status != 200 || len(retried.Accepted) != 30 {
		t.Fatalf("retry: %+v", retried)
	}
	got := r.readWritten(t, kgo.ReadCommitted(), true)
	for _, e := range evs {
		if id := e["id"].(string); len(got[id]) != 1 {
			t.Errorf("%s in Kafka %d times after the retry, want once", id, len(got[id]))
		}
	}
}

// When more events wait for Kafka than MaxPendingEvents, a request is
// refused at once with 429 and Retry-After, and writes nothing; the
// waiting one completes.
func TestCollectBufferFullAnswers429(t *testing.T) {
	r := newFakeRig(t, func(o *collect.Options) {
		o.MaxBatchEvents, o.RateBurst, o.RatePerClient, o.MaxPendingEvents, o.Producers = 5, 5, 1e6, 8, 1
	})
	if a := r.post(t, pageView("warm", "a-0")); a.status != 200 {
		t.Fatalf("warm-up: %+v", a)
	}
	held := make(chan struct{})
	release := make(chan struct{})
	var first1 atomic.Bool
	r.c.Fake.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		r.c.Fake.KeepControl()
		if first1.CompareAndSwap(false, true) { // hold the first produce only
			close(held)
			r.c.Fake.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	first := make(chan answer, 1)
	go func() {
		first <- r.post(t, pageView("f-1", "a"), pageView("f-2", "b"), pageView("f-3", "c"), pageView("f-4", "d"), pageView("f-5", "e"))
	}()
	select {
	case <-held:
	case a := <-first:
		t.Fatalf("the first request was answered without producing: %+v", a)
	}
	a := r.post(t, pageView("s-1", "a"), pageView("s-2", "b"), pageView("s-3", "c"), pageView("s-4", "d"))
	if a.status != 429 || a.retryAfter == "" || len(a.Accepted) != 0 {
		t.Errorf("while full: %+v (Retry-After %q), want 429 with Retry-After", a, a.retryAfter)
	}
	close(release)
	if a := <-first; a.status != 200 || len(a.Accepted) != 5 {
		t.Errorf("the waiting request: %+v", a)
	}
	got := r.readWritten(t, kgo.ReadUncommitted(), false)
	if len(got) != 6 || len(got["s-1"]) != 0 {
		t.Errorf("in Kafka %v, want warm and f-1..f-5", keys(got))
	}
}

// A client over its rate gets 429 with Retry-After; another client (by
// address) is unaffected.
func TestCollectRateLimitPerClient(t *testing.T) {
	r := newRig(t, func(o *collect.Options) {
		o.MaxBatchEvents, o.RateBurst, o.RatePerClient, o.TrustForwardedFor = 4, 4, 0.5, true
	})
	batch := func(p string) []map[string]any {
		return []map[string]any{pageView(p+"1", "a"), pageView(p+"2", "a"), pageView(p+"3", "a")}
	}
	send := func(ip, p string) answer {
		body := mustJSON(map[string]any{"events": batch(p)})
		// The proxy appends the address it saw; what the client wrote
		// before it (a made-up address each time) must not count.
		return r.postRaw(t, "application/json", body, map[string]string{"X-Weir-Write-Key": testKey, "X-Forwarded-For": "203.0.113." + p + ", " + ip})
	}
	if a := send("192.0.2.1", "x"); a.status != 200 {
		t.Fatalf("first batch: %+v", a)
	}
	a := send("192.0.2.1", "y")
	if a.status != 429 || a.retryAfter == "" || len(a.Accepted) != 0 {
		t.Fatalf("over the rate: %+v (Retry-After %q), want 429", a, a.retryAfter)
	}
	if wait, _ := strconv.Atoi(a.retryAfter); wait < 2 {
		t.Errorf("Retry-After %s s: the bucket needs 2 more events at 0.5/s, so at least 4 s", a.retryAfter)
	}
	if a := send("192.0.2.2", "z"); a.status != 200 {
		t.Errorf("another client: %+v", a)
	}
}
