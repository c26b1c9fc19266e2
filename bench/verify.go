package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
)

// Profile holds the compared fields of a profile update (bench.md).
type Profile struct {
	CustomerID         string   `json:"customer_id"`
	Version            int64    `json:"version"`
	ViewsTotal         int64    `json:"views_total"`
	Purchases          int64    `json:"purchases"`
	LifetimeValueCents int64    `json:"lifetime_value_cents"`
	TopCategories      []string `json:"top_categories"`
	Segment            string   `json:"segment"`
	Country            string   `json:"country"`
}

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
		u, err := s.Decode(topic, v)
		if err != nil {
			return Profile{}, err
		}
		return Profile{CustomerID: u.CustomerID, Version: u.Version, ViewsTotal: u.ViewsTotal, Purchases: u.Purchases,
			LifetimeValueCents: u.LifetimeValueCents, TopCategories: u.TopCategories, Segment: u.Segment, Country: u.Country}, nil
	}, nil
}

// KSDecoder decodes the Kafka Streams peer's JSON.
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
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return out, err
	}
	defer cl.Close()
	for {
		pctx, cancel := context.WithTimeout(ctx, idle)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("bench: read %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return out, ferr
		}
		n := 0
		for _, r := range fs.Records() {
			n++
			p, err := dec(r.Topic, r.Value)
			if err != nil {
				return out, fmt.Errorf("bench: %s offset %d/%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			if p.CustomerID == "" {
				p.CustomerID = string(r.Key)
			}
			out.Last[string(r.Key)] = p
			out.Updates = append(out.Updates, Update{Customer: string(r.Key), Version: p.Version, Appended: r.Timestamp})
		}
		out.Records += n
		if n == 0 {
			return out, nil
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

// Compare compares the fields of bench.md for every customer of a or b.
func Compare(a, b map[string]Profile) []Mismatch {
	var out []Mismatch
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, c := range sorted {
		pa, oka := a[c]
		pb, okb := b[c]
		if !oka || !okb {
			out = append(out, Mismatch{c, "present", fmt.Sprint(oka), fmt.Sprint(okb)})
			continue
		}
		add := func(f string, x, y any) {
			if fmt.Sprint(x) != fmt.Sprint(y) {
				out = append(out, Mismatch{c, f, fmt.Sprint(x), fmt.Sprint(y)})
			}
		}
		add("version", pa.Version, pb.Version)
		add("views_total", pa.ViewsTotal, pb.ViewsTotal)
		add("purchases", pa.Purchases, pb.Purchases)
		add("lifetime_value_cents", pa.LifetimeValueCents, pb.LifetimeValueCents)
		if !slices.Equal(pa.TopCategories, pb.TopCategories) {
			out = append(out, Mismatch{c, "top_categories", strings.Join(pa.TopCategories, ","), strings.Join(pb.TopCategories, ",")})
		}
		add("segment", pa.Segment, pb.Segment)
		add("country", pa.Country, pb.Country)
	}
	return out
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
