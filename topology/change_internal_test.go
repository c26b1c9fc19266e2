package topology

import (
	"errors"
	"testing"

	"github.com/weirstream/weir/codec"
)

func TestChangeSerdeRoundTrip(t *testing.T) {
	cs := changeSerde[string]{vs: codec.String()}
	a, b := "old", "new"
	for _, c := range []Change[string]{{}, {Old: &a}, {New: &b}, {Old: &a, New: &b}} {
		enc, err := cs.Encode("t", c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cs.Decode("t", enc)
		if err != nil {
			t.Fatal(err)
		}
		if (got.Old == nil) != (c.Old == nil) || (got.New == nil) != (c.New == nil) ||
			got.Old != nil && *got.Old != *c.Old || got.New != nil && *got.New != *c.New {
			t.Fatalf("round trip of %+v gave %+v", c, got)
		}
	}
	for _, bad := range [][]byte{nil, {9}, {1, 5, 'x'}} {
		if _, err := cs.Decode("t", bad); !errors.Is(err, codec.ErrMalformed) {
			t.Errorf("Decode(%v) = %v, want ErrMalformed", bad, err)
		}
	}
}
