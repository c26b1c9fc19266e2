package collect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/collect"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
)

const (
	testKey    = "wk_test_shop_0001"
	testOrigin = "http://shop.example"
)

// rig is a collector on a test cluster, served over HTTP.
type rig struct {
	c      *kafkatest.Cluster
	col    *collect.Collector
	srv    *httptest.Server
	prefix string
	reg    *avro.Registry
}

// newRig starts a cluster (kfake, or real Kafka on tier 3), creates the
// default routes' topics, registers the events schemas and starts a
// collector with opts applied.
func newRig(t *testing.T, opts ...func(*collect.Options)) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	r := &rig{c: c, prefix: c.Name("") + "."}
	for topic := range collect.DefaultSchemas() {
		c.CreateTopic(ctx, r.prefix+topic, 3, nil)
	}
	rc, err := avro.NewHTTPRegistryClient(c.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for topic, schema := range collect.DefaultSchemas() {
		if _, err := rc.Register(ctx, r.prefix+topic+"-value", schema); err != nil {
			t.Fatal(err)
		}
	}
	if r.reg, err = avro.NewRegistry(rc); err != nil {
		t.Fatal(err)
	}
	o := collect.Options{
		Kafka:           []processor.Opt{processor.SeedBrokers(c.Brokers...)},
		Registry:        r.reg,
		Routes:          collect.DefaultRoutes(r.prefix),
		WriteKeys:       map[string]string{testKey: "shop"},
		AllowedOrigins:  []string{testOrigin},
		TransactionalID: c.Name("collector"),
		AckTimeout:      5 * time.Second,
	}
	for _, f := range opts {
		f(&o)
	}
	col, err := collect.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(col.Close)
	r.col = col
	r.srv = httptest.NewServer(col.Handler())
	t.Cleanup(r.srv.Close)
	return r
}

// answer is a decoded response of POST /v1/events.
type answer struct {
	status     int
	retryAfter string
	allowedTo  string              // Access-Control-Allow-Origin
	Accepted   []string            `json:"accepted"`
	Duplicates []string            `json:"duplicates"`
	Rejected   []collect.Rejection `json:"rejected"`
	Error      string              `json:"error"`
}

func (r *rig) postRaw(t *testing.T, contentType string, body []byte, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+"/v1/events", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), allowedTo: resp.Header.Get("Access-Control-Allow-Origin")}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("status %d: response is not JSON: %v", resp.StatusCode, err)
	}
	return a
}

// post sends events with the test write key in the header.
func (r *rig) post(t *testing.T, evs ...map[string]any) answer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"sent_at": time.Now().UTC().Format(time.RFC3339Nano), "events": evs})
	return r.postRaw(t, "application/json", body, map[string]string{"X-Weir-Write-Key": testKey})
}

// pageView is a valid page_view event.
func pageView(id, anon string) map[string]any {
	return map[string]any{
		"id": id, "type": "page_view", "time": time.Now().UTC().Add(-time.Second).Format(time.RFC3339Nano),
		"anonymous_id": anon, "session_id": "s-" + anon,
		"context": map[string]any{"locale": "de-DE", "viewport": "1280x720", "device_type": "DESKTOP", "os": "Linux"},
		"fields":  map[string]any{"url": "https://shop.example/p/1", "page_type": "PRODUCT", "product_id": "p-1", "category": "shoes"},
	}
}

// addToCart is a valid add_to_cart event of customer.
func addToCart(id, customer string) map[string]any {
	return map[string]any{
		"id": id, "type": "add_to_cart", "time": time.Now().UTC().Format(time.RFC3339Nano),
		"anonymous_id": "anon-" + customer, "customer_id": customer,
		"fields": map[string]any{"cart_id": "cart-" + customer, "currency": "EUR", "total_cents": 1999,
			"items": []any{map[string]any{"product_id": "p-1", "quantity": 1, "unit_price_cents": 1999}}},
	}
}

// written is one event found in Kafka, decoded with the events
// package's serdes.
type written struct {
	rec   *kgo.Record
	ctx   events.Context
	value any // events.PageView, PurchaseEvent or SupportTicket
}

// readWritten reads the routes' topics from the start and returns the
// events by id, every copy: read_uncommitted up to the high watermarks;
// read_committed up to the last stable offsets as they are now, or, with
// settle, once they have reached the high watermarks (every transaction
// ended).
func (r *rig) readWritten(t *testing.T, isolation kgo.IsolationLevel, settle bool) map[string][]written {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var topics []string
	for topic := range collect.DefaultSchemas() {
		topics = append(topics, r.prefix+topic)
	}
	ends, err := r.c.Admin().ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	// Every transaction the test waited for has committed, but a real
	// broker writes the markers after it answers: the last stable offsets
	// reach the ends once they are written.
	for settle {
		stable, err := r.c.Admin().ListCommittedOffsets(ctx, topics...)
		if err != nil {
			t.Fatal(err)
		}
		settled := true
		ends.Each(func(o kadm.ListedOffset) {
			if s, _ := stable.Lookup(o.Topic, o.Partition); s.Offset < o.Offset {
				settled = false
			}
		})
		if settled {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the last stable offsets never reached the ends: an open transaction")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if isolation == kgo.ReadCommitted() && !settle {
		if ends, err = r.c.Admin().ListCommittedOffsets(ctx, topics...); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]map[int32]kgo.Offset{}
	left := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			if want[o.Topic] == nil {
				want[o.Topic] = map[int32]kgo.Offset{}
			}
			want[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
			left++
		}
	})
	out := map[string][]written{}
	if left == 0 {
		return out
	}
	cl := r.c.Client(kgo.ConsumePartitions(want), kgo.FetchIsolationLevel(isolation), kgo.KeepControlRecords())
	pv, _ := events.PageViewSerde(r.reg)
	pe, _ := events.PurchaseEventSerde(r.reg)
	st, _ := events.SupportTicketSerde(r.reg)
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading back: %v (%d partitions short)", ctx.Err(), left)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(rec *kgo.Record) {
			end, _ := ends.Lookup(rec.Topic, rec.Partition)
			if rec.Offset == end.Offset-1 {
				left--
			}
			if rec.Attrs.IsControl() {
				return
			}
			w := written{rec: rec}
			var err error
			switch strings.TrimPrefix(rec.Topic, r.prefix) {
			case events.TopicWebBrowsing:
				var v events.PageView
				v, err = pv.Decode(rec.Topic, rec.Value)
				w.ctx, w.value = v.Context, v
			case events.TopicPurchaseEvents:
				var v events.PurchaseEvent
				v, err = pe.Decode(rec.Topic, rec.Value)
				w.ctx, w.value = v.Context, v
			case events.TopicSupportTickets:
				var v events.SupportTicket
				v, err = st.Decode(rec.Topic, rec.Value)
				w.ctx, w.value = v.Context, v
			}
			if err != nil {
				t.Fatalf("%s/%d@%d: decode: %v", rec.Topic, rec.Partition, rec.Offset, err)
			}
			out[w.ctx.EventID] = append(out[w.ctx.EventID], w)
		})
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
