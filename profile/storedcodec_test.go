package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// randomStored covers every field, nil and empty lists and maps included.
func randomStored(rng *rand.Rand) stored {
	str := func() string { return fmt.Sprintf("s%d", rng.IntN(50)) }
	tm := func() time.Time { return time.UnixMilli(rng.Int64N(4e12) - 1e12).UTC() }
	tp := func() *time.Time {
		if rng.IntN(3) == 0 {
			return nil
		}
		t := tm()
		return &t
	}
	strs := func() []string {
		switch rng.IntN(4) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		ss := make([]string, 1+rng.IntN(10))
		for i := range ss {
			ss[i] = str()
		}
		return ss
	}
	counts := func() map[string]int64 {
		if rng.IntN(3) == 0 {
			return nil
		}
		m := map[string]int64{}
		for range rng.IntN(6) {
			m[str()] = rng.Int64N(1000) - 10
		}
		return m
	}
	var s stored
	p := &s.Profile
	p.CustomerID, p.Known, p.Version = str(), rng.IntN(2) == 0, rng.Int64()
	p.UpdatedAt, p.LastEventTime = tm(), tm()
	if rng.IntN(5) == 0 {
		p.LastEventTime = time.Time{}
	}
	p.Segment, p.Country = str(), str()
	p.ViewsWindowStart, p.Views5m, p.ViewsTotal = tp(), rng.Int64N(100), rng.Int64N(1e6)
	p.RecentProducts, p.TopCategories = strs(), strs()
	if rng.IntN(4) != 0 {
		p.CartItems = []events.CartItem{}
		for range rng.IntN(4) {
			p.CartItems = append(p.CartItems, events.CartItem{ProductID: str(), Quantity: rng.Int32() - 1<<30,
				UnitPriceCents: rng.Int64N(1e5), Category: str()})
		}
	}
	p.CartValueCents, p.Purchases, p.LifetimeValueCents = rng.Int64N(1e7), rng.Int64N(100), -rng.Int64N(1e9)
	p.LastPurchaseTime, p.LastPurchaseAfterView = tp(), rng.IntN(2) == 0
	p.OpenTickets, p.AtRisk = rng.Int32N(5), rng.IntN(2) == 0
	s.Categories = counts()
	for range rng.IntN(4) {
		s.Recent = append(s.Recent, seenProduct{ID: str(), At: rng.Int64()})
	}
	for range rng.IntN(3) {
		s.Windows = append(s.Windows, viewWindow{Start: rng.Int64N(1e12), Count: rng.Int64N(9), Categories: counts()})
	}
	if rng.IntN(2) == 0 {
		s.Tickets = map[string]float64{}
		for range rng.IntN(4) {
			s.Tickets[str()] = rng.Float64()*2 - 1
		}
	}
	if rng.IntN(2) == 0 {
		s.LastPurchaseID = str()
	}
	s.CartActivity, s.CartDeadline = rng.Int64N(1e12), rng.Int64N(1e12)
	return s
}

func seeded(t *testing.T) (*rand.Rand, uint64) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 12)), seed
}

// A value read back from the binary form equals the same value read back
// from the JSON form older versions wrote, and re-encodes to equal bytes.
func TestStoredBinaryMatchesJSON(t *testing.T) {
	rng, seed := seeded(t)
	for i := range 2000 {
		s := randomStored(rng)
		b, err := storedCodec.Encode(StoreProfiles, s)
		mustNo(t, err)
		if b[0] != formatV1 {
			t.Fatalf("seed %d: format byte %#x", seed, b[0])
		}
		got, err := storedCodec.Decode(StoreProfiles, b)
		mustNo(t, err)
		j, err := json.Marshal(s)
		mustNo(t, err)
		want, err := storedCodec.Decode(StoreProfiles, j)
		mustNo(t, err)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d, value %d: binary reads back as\n%+v\nJSON as\n%+v", seed, i, got, want)
		}
		again, err := storedCodec.Encode(StoreProfiles, got)
		mustNo(t, err)
		if !bytes.Equal(again, b) {
			t.Fatalf("seed %d, value %d: re-encoding differs", seed, i)
		}
	}
}

// The JSON an older version wrote (codec.JSON[stored]) still decodes.
func TestStoredDecodesOldJSON(t *testing.T) {
	old := `{"profile":{"customer_id":"c-1","known":true,"version":3,"updated_at":"2026-11-01T10:00:05Z",` +
		`"last_event_time":"2026-11-01T10:00:04.5Z","segment":"vip","country":"DE",` +
		`"views_window_start":"2026-11-01T10:00:00Z","views_5m":2,"views_total":2,"recent_products":["p-2","p-1"],` +
		`"top_categories":["shoes"],"cart_items":[{"product_id":"p-1","quantity":2,"unit_price_cents":999,"category":"shoes"}],` +
		`"cart_value_cents":1998,"purchases":0,"lifetime_value_cents":0,"last_purchase_time":null,` +
		`"last_purchase_after_view":false,"open_tickets":1,"at_risk":true},` +
		`"categories":{"shoes":2},"recent":[{"id":"p-2","at":1793527204500},{"id":"p-1","at":1793527203000}],` +
		`"windows":[{"start":1793527200000,"count":2,"categories":{"shoes":2}}],"tickets":{"t-1":-0.5},` +
		`"cart_activity":1793527204000,"cart_deadline":1793529004000}`
	s, err := storedCodec.Decode(StoreProfiles, []byte(old))
	mustNo(t, err)
	p := s.Profile
	if p.CustomerID != "c-1" || p.Version != 3 || !p.LastEventTime.Equal(time.UnixMilli(1793527204500)) ||
		len(p.CartItems) != 1 || p.CartItems[0].Quantity != 2 || s.Categories["shoes"] != 2 ||
		s.Tickets["t-1"] != -0.5 || s.CartDeadline != 1793529004000 || len(s.Windows) != 1 || !p.AtRisk {
		t.Fatalf("old JSON decoded as %+v", s)
	}
	if _, err := DecodeStored([]byte(" \n" + old)); err != nil {
		t.Fatalf("JSON after white space: %v", err)
	}
}

// Every truncation and an unknown format byte are malformed values, never
// a panic or a wrong value.
func TestStoredRejectsCorrupt(t *testing.T) {
	rng, seed := seeded(t)
	for range 50 {
		b, err := storedCodec.Encode(StoreProfiles, randomStored(rng))
		mustNo(t, err)
		for n := 0; n < len(b); n++ {
			if _, err := storedCodec.Decode(StoreProfiles, b[:n]); !errors.Is(err, codec.ErrMalformed) {
				t.Fatalf("seed %d: %d of %d bytes: err %v", seed, n, len(b), err)
			}
		}
		if _, err := storedCodec.Decode(StoreProfiles, append(b, 0)); !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("seed %d: a trailing byte: err %v", seed, err)
		}
	}
	if _, err := storedCodec.Decode(StoreProfiles, []byte{7, 1, 2}); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("unknown format: err %v", err)
	}
}

// A restore copies changelog values into the store as they are. A task
// reopened over values an older version wrote (JSON) behaves exactly like
// one reopened over the binary values: same outputs, same state, and each
// profile it writes again is binary.
func TestRestoreFromJSONChangelog(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	sd := JSONSerdes()
	recs := Generate(seed, 3000, GenOptions{Customers: 40})
	open := func() *topologytest.Driver {
		topo, err := Topology(Config{Serdes: sd, Emit: PerEvent})
		mustNo(t, err)
		d, err := topologytest.New(topo, topologytest.TaskOpts(topology.DefaultBadInput(topology.DeadLetter)))
		mustNo(t, err)
		t.Cleanup(func() { _ = d.Close() })
		return d
	}
	pipeAll := func(d *topologytest.Driver, rs []Record) {
		for _, r := range rs {
			k, v, err := r.Encode(sd)
			mustNo(t, err)
			mustNo(t, d.PipeRaw(r.Topic, k, v, r.Time))
		}
	}
	half := len(recs) / 2
	binary, old := open(), open()
	pipeAll(binary, recs[:half])
	pipeAll(old, recs[:half])

	// old's store now holds what the previous version wrote.
	kv, err := old.Store(StoreProfiles)
	mustNo(t, err)
	it := kv.Range(nil, nil)
	rewritten := map[string][]byte{}
	for it.Next() {
		s, err := storedCodec.Decode(StoreProfiles, it.Value())
		mustNo(t, err)
		j, err := json.Marshal(s)
		mustNo(t, err)
		rewritten[string(it.Key())] = j
	}
	mustNo(t, it.Close())
	if len(rewritten) < 20 {
		t.Fatalf("seed %d: only %d profiles after the first half", seed, len(rewritten))
	}
	for k, v := range rewritten {
		mustNo(t, kv.Put([]byte(k), v))
	}
	mustNo(t, binary.Reopen())
	mustNo(t, old.Reopen())
	before := len(binary.Outputs(events.TopicProfileUpdates))
	pipeAll(binary, recs[half:])
	pipeAll(old, recs[half:])

	for _, topic := range []string{events.TopicProfileUpdates, events.TopicTriggers} {
		g, w := old.Outputs(topic), binary.Outputs(topic)
		if len(g) != len(w) {
			t.Fatalf("seed %d: %s: %d outputs after reading JSON state, %d after binary", seed, topic, len(g), len(w))
		}
		for i := range g {
			if !bytes.Equal(g[i].Key, w[i].Key) || !bytes.Equal(g[i].Value, w[i].Value) {
				t.Fatalf("seed %d: %s output %d:\n got %s\nwant %s", seed, topic, i, g[i].Value, w[i].Value)
			}
		}
	}
	if n := len(binary.Outputs(events.TopicProfileUpdates)); n-before < half/2 {
		t.Fatalf("seed %d: only %d updates after reopening", seed, n-before)
	}
	bkv, err := binary.Store(StoreProfiles)
	mustNo(t, err)
	it = kv.Range(nil, nil)
	stillJSON := 0
	for it.Next() {
		want, ok, err := bkv.Get(it.Key())
		mustNo(t, err)
		if !ok {
			t.Fatalf("seed %d: %s only in the store read from JSON", seed, it.Key())
		}
		if it.Value()[0] == '{' {
			stillJSON++
			if !bytes.Equal(it.Value(), rewritten[string(it.Key())]) {
				t.Fatalf("seed %d: %s: a JSON value changed", seed, it.Key())
			}
			g, err := storedCodec.Decode(StoreProfiles, it.Value())
			mustNo(t, err)
			w, err := storedCodec.Decode(StoreProfiles, want)
			mustNo(t, err)
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("seed %d: %s: JSON value reads as\n%+v\nbinary as\n%+v", seed, it.Key(), g, w)
			}
			continue
		}
		if !bytes.Equal(it.Value(), want) {
			t.Fatalf("seed %d: %s: stored values differ", seed, it.Key())
		}
	}
	mustNo(t, it.Close())
	if stillJSON == len(rewritten) {
		t.Fatalf("seed %d: no profile was written again", seed)
	}
}

func mustNo(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
