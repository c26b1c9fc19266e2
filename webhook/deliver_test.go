package webhook

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/events"
)

// TestDeliversDespiteFailures: every trigger reaches the engine that
// fails, hangs and throttles at first; the endpoint that refuses a type
// dead-letters all of it at once; a trigger failing MaxAttempts times and
// a record that does not decode are dead-lettered; and the committed
// offsets reach the end.
func TestDeliversDespiteFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r := newRig(t, ctx)
	garbage := []byte("not avro")
	r.produce(t, ctx, 200, garbage)
	rv := newReceiver(t)
	rv.oneSender = true
	rv.refuse("/refuse", http.StatusBadRequest)
	rng := rand.New(rand.NewPCG(r.seed, 2))
	doomed := map[string]bool{}
	for i, tr := range r.triggers {
		switch k := rng.IntN(20); {
		case i == 7 || k == 0:
			doomed[tr.TriggerID] = true
			rv.refuse("/all/"+tr.TriggerID, http.StatusServiceUnavailable)
		case k < 6:
			rv.plan("/all", tr.TriggerID, http.StatusInternalServerError)
		case k < 8:
			rv.plan("/all", tr.TriggerID, http.StatusInternalServerError, hang, http.StatusBadGateway)
		case k < 10:
			rv.plan("/all", tr.TriggerID, hang)
		case k < 11:
			rv.plan("/all", tr.TriggerID, http.StatusTooManyRequests)
		case k < 12:
			rv.plan("/all", tr.TriggerID, http.StatusRequestTimeout)
		}
	}
	o, cm := r.options(t, r.c.Name("group"),
		Endpoint{URL: rv.srv.URL + "/all", Secret: testSecret},
		Endpoint{Type: events.HighIntent, URL: rv.srv.URL + "/refuse", Secret: testSecret})
	stop := start(t, ctx, o)
	cm.waitFor(t, ctx, r.ends)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	rv.check(t)

	type letter struct{ url, id string }
	want := map[letter]string{} // the error it must name
	rv.mu.Lock()
	for _, tr := range r.triggers {
		all := "/all/" + tr.TriggerID
		switch {
		case doomed[tr.TriggerID]:
			if rv.delivered[all] != 0 || rv.attempts[all] != o.MaxAttempts {
				t.Errorf("%s: %d attempts, %d delivered; want %d attempts and none delivered", tr.TriggerID, rv.attempts[all], rv.delivered[all], o.MaxAttempts)
			}
			want[letter{rv.srv.URL + "/all", tr.TriggerID}] = "gave up after 4 attempts: HTTP 503"
		case rv.delivered[all] == 0:
			t.Errorf("%s: never delivered (%d attempts)", tr.TriggerID, rv.attempts[all])
		}
		if tr.Type == events.HighIntent {
			if n := rv.attempts["/refuse/"+tr.TriggerID]; n != 1 {
				t.Errorf("%s: %d attempts at the endpoint answering 400, want 1", tr.TriggerID, n)
			}
			want[letter{rv.srv.URL + "/refuse", tr.TriggerID}] = "HTTP 400"
		}
	}
	rv.mu.Unlock()
	want[letter{"", ""}] = "decode " + r.topic + "/"

	got := r.readDLQ(t, ctx, len(want))
	for _, rec := range got {
		h := headers(rec)
		l := letter{url: h[HeaderDLQURL]}
		if l.url != "" {
			tr, err := r.serde.Decode(r.topic, rec.Value)
			if err != nil {
				t.Fatalf("dead letter's value is not the original trigger: %v", err)
			}
			l.id = tr.TriggerID
			if string(rec.Key) != tr.CustomerID {
				t.Errorf("dead letter of %s: key %q, want %q", l.id, rec.Key, tr.CustomerID)
			}
		} else if string(rec.Value) != string(garbage) || h[HeaderDLQAttempts] != "0" {
			t.Errorf("dead letter without URL: value %q, attempts %q; want the undecodable record, 0", rec.Value, h[HeaderDLQAttempts])
		}
		msg, ok := want[l]
		if !ok {
			t.Errorf("unexpected dead letter %+v: %v", l, h)
			continue
		}
		delete(want, l)
		if !strings.Contains(h[HeaderDLQError], msg) {
			t.Errorf("dead letter %+v: error %q, want it to contain %q", l, h[HeaderDLQError], msg)
		}
		if l.url != "" {
			wantAttempts := "1"
			if strings.HasSuffix(l.url, "/all") {
				wantAttempts = "4"
			}
			if h[HeaderDLQAttempts] != wantAttempts {
				t.Errorf("dead letter %+v: attempts %q, want %s", l, h[HeaderDLQAttempts], wantAttempts)
			}
		}
	}
	for l := range want {
		t.Errorf("missing dead letter %+v", l)
	}
}

// readDLQ reads the dead-letter topic's n records and checks that there
// are no more.
func (r *rig) readDLQ(t *testing.T, ctx context.Context, n int) []*kgo.Record {
	t.Helper()
	ends, err := r.c.Admin().ListEndOffsets(ctx, r.dlq)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != int64(n) {
		t.Errorf("dead-letter topic holds %d records, want %d", total, n)
	}
	i := 0
	recs, err := r.c.ReadCommittedUntil(ctx, r.dlq, func(*kgo.Record) bool { i++; return i == n })
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func headers(r *kgo.Record) map[string]string {
	m := map[string]string{}
	for _, h := range r.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}

// TestRestartDeliversEverything: a deliverer stopped mid-way and a new
// one in the same group deliver every trigger at least once between them.
func TestRestartDeliversEverything(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r := newRig(t, ctx)
	r.produce(t, ctx, 200)
	rv := newReceiver(t)
	rng := rand.New(rand.NewPCG(r.seed, 3))
	for _, tr := range r.triggers {
		if rng.IntN(4) == 0 {
			rv.plan("/all", tr.TriggerID, http.StatusInternalServerError, http.StatusInternalServerError)
		}
	}
	group := r.c.Name("group")
	ep := Endpoint{URL: rv.srv.URL + "/all", Secret: testSecret}
	o1, cm1 := r.options(t, group, ep)
	stop1 := start(t, ctx, o1)
	for range 60 {
		select {
		case <-rv.firsts:
		case <-ctx.Done():
			t.Fatal("the first deliverer did not deliver 60 triggers")
		}
	}
	if err := stop1(); err != nil {
		t.Fatalf("first Run: %v", err)
	}
	cm1.mu.Lock()
	t.Logf("first deliverer committed %v of %v", cm1.at, r.ends)
	cm1.mu.Unlock()
	o2, cm := r.options(t, group, ep)
	start(t, ctx, o2)
	cm.waitFor(t, ctx, r.ends)
	rv.check(t)
	rv.mu.Lock()
	defer rv.mu.Unlock()
	again := 0
	for _, tr := range r.triggers {
		switch n := rv.delivered["/all/"+tr.TriggerID]; {
		case n == 0:
			t.Errorf("%s: never delivered", tr.TriggerID)
		case n > 1:
			again++
		}
	}
	t.Logf("%d of %d triggers delivered twice across the restart", again, len(r.triggers))
}
