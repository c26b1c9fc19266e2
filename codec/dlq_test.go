package codec

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDeadLetterHeaders(t *testing.T) {
	err := fmt.Errorf("decoding: %w", fmt.Errorf("%w: %w: id 42", ErrMalformed, ErrUnknownSchema))
	ts := time.UnixMilli(1_700_000_000_123)
	got := DeadLetterHeaders(err, "web_browsing", 3, 987654321, ts)
	want := map[string]string{
		HeaderError:     err.Error(),
		HeaderErrorKind: "unknown-schema",
		HeaderTopic:     "web_browsing",
		HeaderPartition: "3",
		HeaderOffset:    "987654321",
		HeaderTimestamp: "1700000000123",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d headers, want %d: %v", len(got), len(want), got)
	}
	for _, h := range got {
		if w, ok := want[h.Key]; !ok || string(h.Value) != w {
			t.Errorf("header %s = %q, want %q", h.Key, h.Value, w)
		}
	}
}

func TestDeadLetterHeadersCapsErrorAtRuneBoundary(t *testing.T) {
	// "é" is two bytes; an odd prefix puts the cap in the middle of one.
	long := "x" + strings.Repeat("é", MaxDeadLetterErrorBytes)
	h := DeadLetterHeaders(errors.New(long), "t", 0, 0, time.Time{})
	v := h[0].Value
	if len(v) > MaxDeadLetterErrorBytes || len(v) < MaxDeadLetterErrorBytes-utf8.UTFMax {
		t.Fatalf("error header is %d bytes, want just under %d", len(v), MaxDeadLetterErrorBytes)
	}
	if !utf8.Valid(v) {
		t.Fatalf("error header is not valid UTF-8 after the cut")
	}
}

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Kind
	}{
		{nil, ""},
		{errors.New("boom"), KindOther},
		{fmt.Errorf("%w: x", ErrMalformed), KindMalformed},
		{fmt.Errorf("%w: %w", ErrMalformed, ErrUnknownSchema), KindUnknownSchema},
		{fmt.Errorf("%w: %w", ErrMalformed, ErrIncompatibleSchema), KindIncompatibleSchema},
		{fmt.Errorf("%w: %w", ErrMalformed, ErrTooLarge), KindTooLarge},
		{fmt.Errorf("%w: %w", ErrMalformed, ErrFramedKey), KindFramedKey},
		{fmt.Errorf("%w: dial", ErrRegistryUnavailable), KindRegistryUnavailable},
		{ErrNotRegistered, KindNotRegistered},
		{ErrInvalidValue, KindInvalidValue},
	} {
		if got := KindOf(tc.err); got != tc.want {
			t.Errorf("KindOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
