package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
)

// Profile is a profile update as either system wrote it: every field of
// events.ProfileUpdate (Kafka Streams writes the same fields as JSON).
type Profile = events.ProfileUpdate

// Update is one output record: whose profile, which version, and when the
// broker appended it (the record timestamp under LogAppendTime).
type Update struct {
	Customer string
	Version  int64
	Appended time.Time
}

// Output is what a system wrote.
type Output struct {
	Last    map[string]Profile // last value per customer
	Updates []Update
	Records int
}

// DecodeFunc decodes one output value.
type DecodeFunc func(topic string, value []byte) (Profile, error)

// WeirDecoder decodes Weir's Avro events.ProfileUpdate.
func WeirDecoder(reg *avro.Registry) (DecodeFunc, error) {
	s, err := events.ProfileUpdateSerde(reg)
	if err != nil {
		return nil, err
	}
	return func(topic string, v []byte) (Profile, error) {
		return s.Decode(topic, v)
	}, nil
}

// KSDecoder decodes the Kafka Streams peer's JSON (events.ProfileUpdate's
// JSON form).
func KSDecoder(_ string, v []byte) (Profile, error) {
	var p Profile
	err := json.Unmarshal(v, &p)
	return p, err
}

// ReadOutput reads topic from the start with read_committed until it has
// been idle for idle (every committed record is there once the system has
// drained and committed), keeping the last value per key.
func ReadOutput(ctx context.Context, brokers []string, topic string, dec DecodeFunc, idle time.Duration) (Output, error) {
	out := Output{Last: map[string]Profile{}}
	n, err := readTopic(ctx, brokers, topic, idle, func(r *kgo.Record) error {
		p, err := dec(r.Topic, r.Value)
		if err != nil {
			return err
		}
		if p.CustomerID == "" {
			p.CustomerID = string(r.Key)
		}
		out.Last[string(r.Key)] = p
		out.Updates = append(out.Updates, Update{Customer: string(r.Key), Version: p.Version, Appended: r.Timestamp})
		return nil
	})
	out.Records = n
	return out, err
}

// readTopic hands every committed record of topic to each, until the
// topic has been idle for idle, and returns how many it read.
func readTopic(ctx context.Context, brokers []string, topic string, idle time.Duration, each func(*kgo.Record) error) (int, error) {
	records := 0
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	for {
		pctx, cancel := context.WithTimeout(ctx, idle)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return records, ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("bench: read %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return records, ferr
		}
		n := 0
		for _, r := range fs.Records() {
			n++
			if err := each(r); err != nil {
				return records, fmt.Errorf("bench: %s offset %d/%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
		}
		records += n
		if n == 0 {
			return records, nil
		}
	}
}

// Mismatch is one field where two results differ.
type Mismatch struct {
	Customer, Field, A, B string
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s %s: %s vs %s", m.Customer, m.Field, m.A, m.B)
}

// Compare compares every field of the profiles of every customer of a or
// b.
func Compare(a, b map[string]Profile) []Mismatch { return compareFields(a, b, ProfileFields) }

// compareFields compares a and b key by key: a key in one only is a
// mismatch (field "present"), and so is every field that differs.
func compareFields[V any](a, b map[string]V, fields func(V) []Field) []Mismatch {
	var out []Mismatch
	for _, k := range unionKeys(a, b) {
		va, oka := a[k]
		vb, okb := b[k]
		if !oka || !okb {
			out = append(out, Mismatch{k, "present", fmt.Sprint(oka), fmt.Sprint(okb)})
			continue
		}
		fa, fb := fields(va), fields(vb)
		for i, f := range fa {
			if f.Value != fb[i].Value {
				out = append(out, Mismatch{k, f.Name, f.Value, fb[i].Value})
			}
		}
	}
	return out
}

// Field is one field of a profile or trigger, rendered for comparison.
type Field struct{ Name, Value string }

// ProfileFields renders every field of p (times as Unix ms, so encodings
// of the same instant compare equal).
func ProfileFields(p Profile) []Field {
	var items []string
	for _, it := range p.CartItems {
		items = append(items, fmt.Sprintf("%s*%d@%d(%s)", it.ProductID, it.Quantity, it.UnitPriceCents, it.Category))
	}
	return []Field{
		{"customer_id", p.CustomerID}, {"known", fmt.Sprint(p.Known)}, {"version", fmt.Sprint(p.Version)},
		{"updated_at", msOf(&p.UpdatedAt)}, {"last_event_time", msOf(&p.LastEventTime)},
		{"segment", p.Segment}, {"country", p.Country},
		{"views_window_start", msOf(p.ViewsWindowStart)}, {"views_5m", fmt.Sprint(p.Views5m)},
		{"views_total", fmt.Sprint(p.ViewsTotal)}, {"recent_products", strings.Join(p.RecentProducts, ",")},
		{"top_categories", strings.Join(p.TopCategories, ",")}, {"cart_items", strings.Join(items, ",")},
		{"cart_value_cents", fmt.Sprint(p.CartValueCents)}, {"purchases", fmt.Sprint(p.Purchases)},
		{"lifetime_value_cents", fmt.Sprint(p.LifetimeValueCents)}, {"last_purchase_time", msOf(p.LastPurchaseTime)},
		{"last_purchase_after_view", fmt.Sprint(p.LastPurchaseAfterView)},
		{"open_tickets", fmt.Sprint(p.OpenTickets)}, {"at_risk", fmt.Sprint(p.AtRisk)},
	}
}

// TriggerFields renders every field of t.
func TriggerFields(t events.Trigger) []Field {
	var attrs []string
	for _, k := range slices.Sorted(maps.Keys(t.Attributes)) {
		attrs = append(attrs, k+"="+t.Attributes[k])
	}
	cause := "<nil>"
	if t.CauseEventID != nil {
		cause = *t.CauseEventID
	}
	return []Field{
		{"trigger_id", t.TriggerID}, {"customer_id", t.CustomerID}, {"type", string(t.Type)},
		{"fired_at", msOf(&t.FiredAt)}, {"score", fmt.Sprint(t.Score)}, {"reason", t.Reason},
		{"cause_event_id", cause}, {"attributes", strings.Join(attrs, ",")},
	}
}

func msOf(t *time.Time) string {
	if t == nil {
		return "<nil>"
	}
	return fmt.Sprint(t.UnixMilli())
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return slices.Sorted(maps.Keys(keys))
}

// CompareTriggers compares two sets of triggers by id: an id in one set
// only is a mismatch (field "present"), and so is every field that
// differs between two triggers of the same id.
func CompareTriggers(a, b map[string]events.Trigger) []Mismatch {
	return compareFields(a, b, TriggerFields)
}

// TriggerDecodeFunc decodes one trigger record's value.
type TriggerDecodeFunc func(topic string, value []byte) (events.Trigger, error)

// WeirTriggerDecoder decodes Weir's Avro events.Trigger.
func WeirTriggerDecoder(reg *avro.Registry) (TriggerDecodeFunc, error) {
	s, err := events.TriggerSerde(reg)
	if err != nil {
		return nil, err
	}
	return s.Decode, nil
}

// KSTriggerDecoder decodes the Kafka Streams peer's JSON triggers.
func KSTriggerDecoder(_ string, v []byte) (events.Trigger, error) {
	var t events.Trigger
	err := json.Unmarshal(v, &t)
	return t, err
}

// ReadTriggers reads every committed trigger of topic (as ReadOutput),
// by trigger id. A trigger id written twice with different contents is
// an error: ids name one trigger.
func ReadTriggers(ctx context.Context, brokers []string, topic string, dec TriggerDecodeFunc, idle time.Duration) (map[string]events.Trigger, error) {
	out := map[string]events.Trigger{}
	var dup error
	_, err := readTopic(ctx, brokers, topic, idle, func(r *kgo.Record) error {
		t, err := dec(r.Topic, r.Value)
		if err != nil {
			return err
		}
		if prev, ok := out[t.TriggerID]; ok && dup == nil && !slices.Equal(TriggerFields(prev), TriggerFields(t)) {
			dup = fmt.Errorf("bench: %s: trigger %s written twice, differently", topic, t.TriggerID)
		}
		out[t.TriggerID] = t
		return nil
	})
	if err == nil {
		err = dup
	}
	return out, err
}

// CheckModel compares a result with what the input alone determines
// (version, views, purchases, lifetime value, top categories).
func CheckModel(got map[string]Profile, want map[string]*Expect) []Mismatch {
	var out []Mismatch
	for c, e := range want {
		p, ok := got[c]
		if !ok {
			out = append(out, Mismatch{c, "present", "false", "true"})
			continue
		}
		add := func(f string, x, y int64) {
			if x != y {
				out = append(out, Mismatch{c, f, fmt.Sprint(x), fmt.Sprint(y)})
			}
		}
		add("version", p.Version, e.Version)
		add("views_total", p.ViewsTotal, e.ViewsTotal)
		add("purchases", p.Purchases, e.Purchases)
		add("lifetime_value_cents", p.LifetimeValueCents, e.LifetimeValueCents)
		if w := e.TopCategories(); !slices.Equal(p.TopCategories, w) {
			out = append(out, Mismatch{c, "top_categories", strings.Join(p.TopCategories, ","), strings.Join(w, ",")})
		}
	}
	for c := range got {
		if want[c] == nil {
			out = append(out, Mismatch{c, "present", "true", "false"})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Customer < out[j].Customer || out[i].Customer == out[j].Customer && out[i].Field < out[j].Field
	})
	return out
}

// Side is one system's output for CheckTriggersAndModel.
type Side struct {
	Name     string
	Profiles map[string]Profile // last per customer
	Triggers string             // trigger topic
	Decode   TriggerDecodeFunc
}

// CheckTriggersAndModel reads each side's triggers, compares them between
// the first two sides (the full sets of ids, every field), and compares
// each side's profiles and triggers with m (every field, for the customers
// m modelled). It records the counts in r.Correctness, logs with say, and
// returns an error naming every disagreement.
func CheckTriggersAndModel(ctx context.Context, brokers []string, sides []Side, m *Model, r *Results, say func(string, ...any)) error {
	c := &r.Correctness
	c.ModelSkipped = len(m.Skipped)
	var trs []map[string]events.Trigger
	var bad []string
	for _, s := range sides {
		tr, err := ReadTriggers(ctx, brokers, s.Triggers, s.Decode, 3*time.Second)
		if err != nil {
			return fmt.Errorf("%s: reading triggers: %w", s.Name, err)
		}
		trs = append(trs, tr)
		pm, tm := Compare(m.OnlyProfiles(s.Profiles), m.Profiles), CompareTriggers(m.OnlyTriggers(tr), m.Triggers)
		c.Triggers = append(c.Triggers, len(tr))
		c.ModelProfileMismatches = append(c.ModelProfileMismatches, len(pm))
		c.ModelTriggerMismatches = append(c.ModelTriggerMismatches, len(tm))
		for _, x := range append(pm[:min(len(pm), 3)], tm[:min(len(tm), 3)]...) {
			c.ModelExamples = append(c.ModelExamples, s.Name+" vs profilemodel: "+x.String())
		}
		say("%s: %d triggers; against profilemodel (%d customers, %d busiest left out): %d profile field mismatches, %d trigger mismatches",
			s.Name, len(tr), len(m.Profiles), len(m.Skipped), len(pm), len(tm))
		if len(pm)+len(tm) > 0 {
			bad = append(bad, fmt.Sprintf("%s disagrees with profilemodel on %d profile fields and %d triggers", s.Name, len(pm), len(tm)))
		}
	}
	if len(trs) > 1 {
		mm := CompareTriggers(trs[0], trs[1])
		c.TriggerMismatches = len(mm)
		for _, x := range mm[:min(len(mm), 5)] {
			c.TriggerExamples = append(c.TriggerExamples, x.String())
		}
		say("compare %s vs %s triggers: %d mismatches %v", sides[0].Name, sides[1].Name, len(mm), c.TriggerExamples)
		if len(mm) > 0 {
			bad = append(bad, fmt.Sprintf("%s and %s disagree on %d triggers (e.g. %s)", sides[0].Name, sides[1].Name, len(mm), strings.Join(c.TriggerExamples, "; ")))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// ReadCommitted hands every committed record of topic to each, from the
// start until the topic has been idle for idle, and returns how many it
// read (for checkers that need every record, not the last per key).
func ReadCommitted(ctx context.Context, brokers []string, topic string, idle time.Duration, each func(*kgo.Record) error) (int, error) {
	return readTopic(ctx, brokers, topic, idle, each)
}
