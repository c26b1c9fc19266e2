package bench

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/profile"
)

// Topics are a run's topic names: the profile topology's behind the
// prefix P + ".", plus the Kafka Streams peer's output.
type Topics struct {
	Prefix string // P
	profile.Topics
	KSProfiles string // P.ks_profiles
	KSTriggers string // P.ks_triggers
}

// NewTopics names the topics of prefix P.
func NewTopics(p string) Topics {
	q := p + "."
	return Topics{Prefix: p, KSProfiles: q + "ks_profiles", KSTriggers: q + "ks_triggers", Topics: profile.PrefixedTopics(q)}
}

// Inputs are the event topics whose lag measures progress.
func (t Topics) Inputs() []string { return []string{t.Views, t.Purchases, t.Tickets} }

// CreateTopics creates the inputs (products: 1 partition) and the outputs
// with retention.ms=-1. With logAppendTime the outputs stamp records with
// the broker's append time, for end-to-end latency.
func CreateTopics(ctx context.Context, adm *kadm.Client, t Topics, partitions int32, logAppendTime bool) error {
	keep := map[string]*string{"retention.ms": kadm.StringPtr("-1")}
	out := map[string]*string{"retention.ms": kadm.StringPtr("-1")}
	if logAppendTime {
		out["message.timestamp.type"] = kadm.StringPtr("LogAppendTime")
	}
	for _, tp := range []struct {
		name string
		n    int32
		cfg  map[string]*string
	}{
		{t.Views, partitions, keep}, {t.Purchases, partitions, keep}, {t.Tickets, partitions, keep},
		{t.Customers, partitions, keep}, {t.Products, 1, keep},
		{t.Updates, partitions, out}, {t.Triggers, partitions, out}, {t.KSProfiles, partitions, out}, {t.KSTriggers, partitions, out},
	} {
		resp, err := adm.CreateTopic(ctx, tp.n, -1, tp.cfg, tp.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
			return fmt.Errorf("bench: create topic %s: %w", tp.name, err)
		}
	}
	return waitTopics(ctx, adm, t.Views, t.Purchases, t.Tickets, t.Customers, t.Products, t.Updates, t.Triggers, t.KSProfiles, t.KSTriggers)
}

// waitTopics waits until every partition of topics has a leader, so that
// producing right after creation does not fail.
func waitTopics(ctx context.Context, adm *kadm.Client, topics ...string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		md, err := adm.Metadata(ctx, topics...)
		ready := err == nil
		if ready {
			for _, name := range topics {
				td, ok := md.Topics[name]
				if !ok || td.Err != nil || len(td.Partitions) == 0 {
					ready = false
					break
				}
				for _, p := range td.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
					}
				}
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: topics not ready: %v: %w", err, ctx.Err())
		case <-tick.C:
		}
	}
}

// Expect is the part of each customer's final profile that follows from
// the input alone, whatever the processing order.
type Expect struct {
	Version            int64
	ViewsTotal         int64
	Purchases          int64
	LifetimeValueCents int64
	categories         map[string]int64
}

// TopCategories is the spec's top 3 by count desc, ties by name.
func (e *Expect) TopCategories() []string {
	cats := make([]string, 0, len(e.categories))
	for c := range e.categories {
		cats = append(cats, c)
	}
	sort.Slice(cats, func(i, j int) bool {
		a, b := cats[i], cats[j]
		return e.categories[a] > e.categories[b] || e.categories[a] == e.categories[b] && a < b
	})
	if len(cats) > 3 {
		cats = cats[:3]
	}
	return cats
}

// Workload is an encoded data set ready to produce.
type Workload struct {
	Records   []*kgo.Record
	Events    int // profile events (views, purchase events, tickets), malformed included
	Malformed int
	Bytes     int64 // value bytes of the events
	Expect    map[string]*Expect
	// EventTimes lists, per customer, the event time of each valid event
	// in production order: version v's event is EventTimes[c][v-1].
	EventTimes map[string][]time.Time
	LastTime   time.Time // latest event time
	// Bad[i] says whether record i of the input was replaced by
	// malformed bytes; Model is what profilemodel computes (RunModel).
	Bad   []bool
	Model *Model
}

// RunModel computes w.Model from the records w was built from.
func (w *Workload) RunModel(recs []profile.Record, partitions int32) {
	w.Model = RunModel(recs, w.Bad, partitions, ModelBudget)
}

// Build encodes recs for topics t: every badEvery-th event (0: none) is
// replaced by malformed bytes. It also computes the expected profiles.
func Build(recs []profile.Record, t Topics, enc func(profile.Record) ([]byte, []byte, error), seed uint64, badEvery int) (*Workload, error) {
	w := &Workload{Expect: map[string]*Expect{}, EventTimes: map[string][]time.Time{}}
	catOf := map[string]string{}
	for _, r := range recs {
		if r.Product != nil {
			catOf[r.Product.ProductID] = r.Product.Category
		}
	}
	w.Records = make([]*kgo.Record, 0, len(recs))
	w.Bad = make([]bool, len(recs))
	for i, r := range recs {
		k, v, err := enc(r)
		if err != nil {
			return nil, err
		}
		topic := t.Of(r)
		if r.IsEvent() {
			w.Events++
			if badEvery > 0 && w.Events%badEvery == 0 {
				w.Malformed++
				w.Bad[i] = true
				v = profile.Malformed(seed, i)
			} else {
				e := w.Expect[r.Key]
				if e == nil {
					e = &Expect{categories: map[string]int64{}}
					w.Expect[r.Key] = e
				}
				e.Version++
				w.EventTimes[r.Key] = append(w.EventTimes[r.Key], r.Time)
				switch {
				case r.View != nil:
					e.ViewsTotal++
					cat := ""
					if r.View.Category != nil {
						cat = *r.View.Category
					}
					if cat == "" && r.View.ProductID != nil {
						cat = catOf[*r.View.ProductID]
					}
					if cat != "" {
						e.categories[cat]++
					}
				case r.Purchase != nil && r.Purchase.Type == events.Purchase:
					e.Purchases++
					e.LifetimeValueCents += r.Purchase.TotalCents
				}
			}
			w.Bytes += int64(len(v))
			if r.Time.After(w.LastTime) {
				w.LastTime = r.Time
			}
		}
		w.Records = append(w.Records, &kgo.Record{Topic: topic, Key: k, Value: v, Timestamp: r.Time})
	}
	return w, nil
}

// Produce writes recs asynchronously and waits for every acknowledgement.
func Produce(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	var f Failures
	for _, r := range recs {
		cl.Produce(ctx, r, f.Promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return f.Err()
}

// Failures collects produce errors: the first one and how many.
type Failures struct {
	mu    sync.Mutex
	first error
	n     int
}

// Promise is a kgo produce promise.
func (f *Failures) Promise(_ *kgo.Record, err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		f.first = err
	}
	f.n++
}

// Err is nil if nothing failed.
func (f *Failures) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		return nil
	}
	return fmt.Errorf("bench: %d records not produced, first: %w", f.n, f.first)
}
