package demo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/topology"
)

// Topics names the demo's topics, all with one prefix so runs can share
// a cluster.
type Topics struct {
	Views, Customers, Products string // inputs
	Enriched, Counts           string // outputs
}

// TopicsWithPrefix returns the demo topics named with prefix.
func TopicsWithPrefix(prefix string) Topics {
	return Topics{
		Views:     prefix + events.TopicWebBrowsing,
		Customers: prefix + events.TopicCustomers,
		Products:  prefix + events.TopicProducts,
		Enriched:  prefix + "views_enriched",
		Counts:    prefix + "views_per_5m",
	}
}

// Serdes are the demo's Avro serdes.
type Serdes struct {
	Views     codec.Serde[events.PageView]
	Customers codec.Serde[events.Customer]
	Products  codec.Serde[events.Product]
}

// NewSerdes makes Avro serdes over the registry at registryURL, with opts
// (e.g. avro.AutoRegister() to register the schemas they encode with).
func NewSerdes(registryURL string, opts ...avro.Opt) (Serdes, error) {
	return NewSerdesClient(registryURL, nil, opts...)
}

// NewSerdesClient is NewSerdes with options for the registry client
// (authentication, TLS).
func NewSerdesClient(registryURL string, clientOpts []avro.HTTPClientOpt, opts ...avro.Opt) (Serdes, error) {
	rc, err := avro.NewHTTPRegistryClient(registryURL, clientOpts...)
	if err != nil {
		return Serdes{}, err
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		return Serdes{}, err
	}
	var s Serdes
	var errs [3]error
	s.Views, errs[0] = events.PageViewSerde(reg, opts...)
	s.Customers, errs[1] = events.CustomerSerde(reg, opts...)
	s.Products, errs[2] = events.ProductSerde(reg, opts...)
	return s, errors.Join(errs[:]...)
}

// Enriched is a human page view with what the tables know.
type Enriched struct {
	EventID    string `json:"event_id"`
	CustomerID string `json:"customer_id"`
	ProductID  string `json:"product_id"`
	Brand      string `json:"brand"`   // "" when the product is unknown
	Segment    string `json:"segment"` // "unknown" when the customer is
}

// Window is the demo's windowed count: 5-minute tumbling, 1 minute grace.
var Window = topology.Tumbling(5 * time.Minute).Grace(time.Minute)

// Topology builds the demo pipeline: page views, bots dropped, enriched
// from the products catalog (a global table, by product id) and the
// customers table (by key), and counted per customer in 5-minute windows.
func Topology(appID string, t Topics, s Serdes) (*topology.Topology, error) {
	b := topology.New(appID)
	views := topology.StreamOf(b, t.Views, codec.String(), s.Views)
	// Rows are stored as JSON: the changelog needs no registry subject.
	customers := topology.TableOf(b, t.Customers, codec.String(),
		codec.ForTopics(s.Customers, codec.JSONOrFramed(s.Customers), t.Customers))
	products := topology.GlobalTableOf(b, t.Products, codec.String(), s.Products)

	humans := views.Filter("humans", func(_ string, v events.PageView) bool { return !v.Bot })
	withProduct := topology.LeftJoinGlobal(humans, products, "with-product",
		func(_ string, v events.PageView) string { return deref(v.ProductID) },
		func(k string, v events.PageView, p events.Product, found bool) Enriched {
			e := Enriched{EventID: v.Context.EventID, CustomerID: k, ProductID: deref(v.ProductID)}
			if found {
				e.Brand = p.Brand
			}
			return e
		})
	topology.LeftJoinTable(withProduct, customers, "with-customer",
		func(_ string, e Enriched, c events.Customer, found bool) Enriched {
			e.Segment = "unknown"
			if found {
				e.Segment = c.Segment
			}
			return e
		}).To(t.Enriched, codec.String(), codec.JSON[Enriched]())

	topology.GroupByKey(humans, codec.String(), s.Views).WindowedBy(Window).
		Count("views-5m").ToStream("views-5m-changes").
		To(t.Counts, topology.WindowedSerde(codec.String()), codec.Int64())
	return b.Build()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Workload is a seeded set of inputs and what a correct run outputs.
type Workload struct {
	Customers []*kgo.Record
	Products  []*kgo.Record
	Views     []*kgo.Record
	Malformed int

	// What exactly-once processing must produce.
	Enriched map[string]Enriched // by event id
	Counts   map[WindowKey]int64 // final count per customer and window
}

// WindowKey is a customer's window.
type WindowKey struct {
	Customer string
	Start    int64 // unix ms
}

// WorkloadConfig sizes a workload.
type WorkloadConfig struct {
	Seed      uint64
	Events    int
	Customers int
	Products  int
	BadShare  float64
	Start     time.Time // event time of the first view
}

// NewWorkload generates inputs and computes the expected outputs with a
// model written independently of the topology. View timestamps only grow,
// so no record is late and the expected counts are exact.
func NewWorkload(t Topics, s Serdes, c WorkloadConfig) (*Workload, error) {
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	w := &Workload{Enriched: map[string]Enriched{}, Counts: map[WindowKey]int64{}}
	segments := []string{"new", "regular", "vip"}
	segmentOf := map[string]string{}
	// Every other customer is in the table; the rest are unknown.
	for i := 0; i < c.Customers; i += 2 {
		id := fmt.Sprintf("c-%06d", i)
		cu := events.Customer{CustomerID: id, Segment: segments[rng.IntN(len(segments))], Country: "NL",
			SignupTime: c.Start.Add(-24 * time.Hour).UTC(), UpdatedAt: c.Start.Add(-time.Hour).UTC()}
		b, err := s.Customers.Encode(t.Customers, cu)
		if err != nil {
			return nil, err
		}
		segmentOf[id] = cu.Segment
		w.Customers = append(w.Customers, &kgo.Record{Topic: t.Customers, Key: []byte(id), Value: b, Timestamp: c.Start.Add(-time.Hour)})
	}
	brandOf := map[string]string{}
	for i := 0; i < c.Products; i += 2 { // half the catalog is known
		id := fmt.Sprintf("p-%05d", i)
		p := events.Product{ProductID: id, Name: "product " + id, Category: "shoes", Brand: "brand-" + strconv.Itoa(i%7),
			PriceCents: 1000, Currency: "EUR", InStock: true, UpdatedAt: c.Start.Add(-time.Hour).UTC()}
		b, err := s.Products.Encode(t.Products, p)
		if err != nil {
			return nil, err
		}
		brandOf[id] = p.Brand
		w.Products = append(w.Products, &kgo.Record{Topic: t.Products, Key: []byte(id), Value: b, Timestamp: c.Start.Add(-time.Hour)})
	}
	at := c.Start
	for i := range c.Events {
		at = at.Add(time.Duration(rng.IntN(20)) * time.Millisecond)
		if rng.Float64() < c.BadShare {
			key := fmt.Sprintf("c-%06d", rng.IntN(c.Customers))
			w.Views = append(w.Views, &kgo.Record{Topic: t.Views, Key: []byte(key), Value: []byte("not avro " + strconv.Itoa(i)), Timestamp: at})
			w.Malformed++
			continue
		}
		v := events.SamplePageView(rng, at, c.Customers)
		pid := fmt.Sprintf("p-%05d", rng.IntN(max(c.Products, 1)))
		v.ProductID = &pid
		v.Context.EventID = "e-" + strconv.Itoa(i)
		v.Bot = rng.IntN(10) == 0
		b, err := s.Views.Encode(t.Views, v)
		if err != nil {
			return nil, err
		}
		w.Views = append(w.Views, &kgo.Record{Topic: t.Views, Key: []byte(v.CustomerID), Value: b, Timestamp: at})
		if v.Bot {
			continue
		}
		seg, ok := segmentOf[v.CustomerID]
		if !ok {
			seg = "unknown"
		}
		w.Enriched[v.Context.EventID] = Enriched{EventID: v.Context.EventID, CustomerID: v.CustomerID, ProductID: pid, Brand: brandOf[pid], Segment: seg}
		start := at.UnixMilli() - at.UnixMilli()%(5*60*1000)
		w.Counts[WindowKey{v.CustomerID, start}]++
	}
	return w, nil
}

// CreateTopics creates the demo topics (partitions for the co-partitioned
// inputs and outputs; the catalog gets 1).
func CreateTopics(ctx context.Context, brokers []string, t Topics, partitions int32) error {
	return CreateTopicsKeeping(ctx, brokers, map[string]int32{
		t.Views: partitions, t.Customers: partitions, t.Products: 1, t.Enriched: partitions, t.Counts: partitions,
	})
}

// CreateTopicsKeeping creates each topic with its partition count unless it
// exists, keeping records forever: seeded workloads' event times may lie
// weeks in the past, and time retention would delete them on arrival.
func CreateTopicsKeeping(ctx context.Context, brokers []string, topics map[string]int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, name := range slices.Sorted(maps.Keys(topics)) {
		resp, err := adm.CreateTopic(ctx, topics[name], -1, map[string]*string{"retention.ms": kadm.StringPtr("-1")}, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("demo: create topic %s: %w", name, err)
		}
	}
	return nil
}

// Produce writes records and waits for the broker's acknowledgement.
func Produce(ctx context.Context, brokers []string, recs []*kgo.Record) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// Check reads the outputs with read_committed until they are complete and
// verifies exactly-once: every enriched view once with the right values,
// every window's count updates exactly 1, 2, ..., N in order, and one dead
// letter per malformed record. It returns at the first violation.
func Check(ctx context.Context, brokers []string, appID string, t Topics, w *Workload, progress func(string)) error {
	dlq := appID + "-dlq"
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(t.Enriched, t.Counts, dlq),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	ws := topology.WindowedSerde(codec.String())
	enriched := map[string]bool{}
	last := map[WindowKey]int64{}
	complete, dead := 0, 0
	next := time.Now().Add(2 * time.Second)
	for len(enriched) < len(w.Enriched) || complete < len(w.Counts) || dead < w.Malformed {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("demo: outputs incomplete: enriched %d/%d, windows %d/%d, dead letters %d/%d: %w",
				len(enriched), len(w.Enriched), complete, len(w.Counts), dead, w.Malformed, err)
		}
		var ferr error
		fs.EachError(func(tp string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("read %s/%d: %w", tp, p, err))
		})
		if ferr != nil {
			return ferr
		}
		for _, r := range fs.Records() {
			switch r.Topic {
			case dlq:
				dead++
				if dead > w.Malformed {
					return fmt.Errorf("demo: %d dead letters, only %d malformed records were sent", dead, w.Malformed)
				}
			case t.Enriched:
				e, err := codec.JSON[Enriched]().Decode(r.Topic, r.Value)
				if err != nil {
					return err
				}
				want, ok := w.Enriched[e.EventID]
				switch {
				case !ok:
					return fmt.Errorf("demo: enriched event %s was never sent (or was a bot)", e.EventID)
				case enriched[e.EventID]:
					return fmt.Errorf("demo: event %s enriched twice: duplicate processing", e.EventID)
				case e != want:
					return fmt.Errorf("demo: event %s enriched as %+v, want %+v", e.EventID, e, want)
				}
				enriched[e.EventID] = true
			case t.Counts:
				k, err := ws.Decode(r.Topic, r.Key)
				if err != nil {
					return err
				}
				n, err := codec.Int64().Decode(r.Topic, r.Value)
				if err != nil {
					return err
				}
				wk := WindowKey{k.Key, k.Start.UnixMilli()}
				if n != last[wk]+1 {
					return fmt.Errorf("demo: window %v went from %d to %d: each update must add exactly one view", wk, last[wk], n)
				}
				last[wk] = n
				if n > w.Counts[wk] {
					return fmt.Errorf("demo: window %v counted %d, only %d views were sent", wk, n, w.Counts[wk])
				}
				if n == w.Counts[wk] {
					complete++
				}
			}
		}
		if progress != nil && time.Now().After(next) {
			progress(fmt.Sprintf("enriched %d/%d, windows complete %d/%d, dead letters %d/%d",
				len(enriched), len(w.Enriched), complete, len(w.Counts), dead, w.Malformed))
			next = time.Now().Add(2 * time.Second)
		}
	}
	return nil
}

// WaitCommitted waits until group has committed offsets at the end of
// every partition of topic: the workers have taken all of it in.
func WaitCommitted(ctx context.Context, brokers []string, group, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		committed, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			done := true
			ends.Each(func(lo kadm.ListedOffset) {
				c, ok := committed.Lookup(topic, lo.Partition)
				if !ok || c.At < lo.Offset {
					done = false
				}
			})
			if done {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: group %s never committed the end of %s: %w", group, topic, ctx.Err())
		case <-tick.C:
		}
	}
}
