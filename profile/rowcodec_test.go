package profile

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/events"
)

// Each internal value reads back from the binary form, and from the JSON
// older versions wrote, as the same value.
func TestRowCodecsReadBinaryAndOldJSON(t *testing.T) {
	email := "a@example.com"
	c := events.Customer{CustomerID: "c-1", Email: &email, Segment: "vip", Country: "DE",
		SignupTime: time.UnixMilli(1700000000123).UTC(), UpdatedAt: time.UnixMilli(1790000000000).UTC()}
	rows := customerRows(codec.JSON[events.Customer]())
	checkRoundTrip(t, rows, c)
	checkRoundTrip(t, rows, events.Customer{})
	checkRoundTrip(t, purchaseRefCodec, purchaseRef{EventID: "e-1", Products: []string{"p-1", "p-2"}})
	checkRoundTrip(t, purchaseRefCodec, purchaseRef{EventID: "e-2"})
	checkRoundTrip(t, viewRefCodec, viewRef{ProductID: "p-9"})
}

func checkRoundTrip[T any](t *testing.T, s codec.Serde[T], v T) {
	t.Helper()
	b, err := s.Encode("t", v)
	mustNo(t, err)
	if b[0] != formatV1 {
		t.Fatalf("%T: format byte %#x", v, b[0])
	}
	got, err := s.Decode("t", b)
	mustNo(t, err)
	j, err := json.Marshal(v)
	mustNo(t, err)
	old, err := s.Decode("t", j)
	mustNo(t, err)
	if !reflect.DeepEqual(got, v) || !reflect.DeepEqual(old, v) {
		t.Fatalf("%T: binary reads back as %+v, JSON as %+v; want %+v", v, got, old, v)
	}
	for n := range len(b) {
		if _, err := s.Decode("t", b[:n]); !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("%T: %d of %d bytes: err %v", v, n, len(b), err)
		}
	}
}

// Customer rows an even older version wrote in the Confluent wire format
// still decode, with the framed serde.
func TestCustomerRowsReadFramed(t *testing.T) {
	want := events.Customer{CustomerID: "c-2", Segment: "new", Country: "FR"}
	framed := framedJSON{}
	b, err := framed.Encode("t", want)
	mustNo(t, err)
	got, err := customerRows(framed).Decode("t", b)
	mustNo(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("framed row read as %+v", got)
	}
	if _, err := customerRows(nil).Decode("t", b); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("framed row without a framed serde: err %v", err)
	}
}

// framedJSON is JSON behind a Confluent header (schema id 1).
type framedJSON struct{}

func (framedJSON) Encode(_ string, c events.Customer) ([]byte, error) {
	j, err := json.Marshal(c)
	return append([]byte{codec.WireMagic, 0, 0, 0, 1}, j...), err
}

func (framedJSON) Decode(_ string, b []byte) (events.Customer, error) {
	var c events.Customer
	err := json.Unmarshal(b[codec.WireHeaderLen:], &c)
	return c, err
}

// The reader's varints are encoding/binary's, extremes included.
func TestReaderVarints(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 64, 1 << 40, -(1 << 40), math.MaxInt64, math.MinInt64} {
		r := newReader(binary.AppendUvarint(binary.AppendVarint(nil, v), uint64(v)))
		if g, u := r.varint(), r.uvarint(); g != v || u != uint64(v) || r.err != nil || r.b != "" {
			t.Fatalf("%d: read %d, %d, err %v", v, g, u, r.err)
		}
	}
	// Eleven bytes with the continuation bit overflow 64 bits.
	r := newReader([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	if r.uvarint(); r.err == nil {
		t.Fatal("an overflowing varint read without error")
	}
	r = newReader([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02})
	if r.uvarint(); r.err == nil {
		t.Fatal("a 10-byte varint over 64 bits read without error")
	}
}

// topCategories picks what sorting every category gives, ties by name,
// and returns prev itself when the list is unchanged.
func TestTopCategoriesSelectsLikeASort(t *testing.T) {
	rng, seed := seeded(t)
	for range 2000 {
		counts := map[string]int64{}
		for range 1 + rng.IntN(12) {
			counts[fmt.Sprintf("c%d", rng.IntN(20))] = rng.Int64N(4)
		}
		var all []string
		for c := range counts {
			all = append(all, c)
		}
		slices.SortFunc(all, func(a, b string) int {
			if counts[a] != counts[b] {
				return cmp.Compare(counts[b], counts[a])
			}
			return strings.Compare(a, b)
		})
		want := all[:min(len(all), TopCategories)]
		got := topCategories(counts, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: %v: got %v, want %v", seed, counts, got, want)
		}
		prev := slices.Clone(want)
		if again := topCategories(counts, prev); &again[0] != &prev[0] {
			t.Fatalf("seed %d: an unchanged list was allocated again", seed)
		}
	}
}
