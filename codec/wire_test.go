package codec

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseWire(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		id      uint32
		payload []byte
		bad     bool
	}{
		{name: "empty", in: nil, bad: true},
		{name: "header cut", in: []byte{0, 0, 0, 1}, bad: true},
		{name: "wrong magic", in: []byte{1, 0, 0, 0, 1, 2}, bad: true},
		{name: "json text", in: []byte(`{"a":1}`), bad: true},
		{name: "header only", in: []byte{0, 0, 0, 0, 7}, id: 7, payload: []byte{}},
		{name: "big-endian id", in: []byte{0, 0x01, 0x02, 0x03, 0x04, 9, 8}, id: 0x01020304, payload: []byte{9, 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, payload, err := ParseWire(tc.in)
			if tc.bad {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ParseWire(%x) error = %v, want ErrMalformed", tc.in, err)
				}
				return
			}
			if err != nil || id != tc.id || !bytes.Equal(payload, tc.payload) {
				t.Fatalf("ParseWire(%x) = %d, %x, %v; want %d, %x, nil", tc.in, id, payload, err, tc.id, tc.payload)
			}
		})
	}
}

func TestAppendWireHeaderRoundTrip(t *testing.T) {
	for _, id := range []uint32{0, 1, 255, 256, 1<<31 - 1, 1<<32 - 1} {
		b := append(AppendWireHeader([]byte("prefix"), id)[len("prefix"):], 0xAB)
		got, payload, err := ParseWire(b)
		if err != nil || got != id || !bytes.Equal(payload, []byte{0xAB}) {
			t.Fatalf("id %d: ParseWire(AppendWireHeader) = %d, %x, %v", id, got, payload, err)
		}
	}
}

// A Confluent-framed key (an Avro string "c-1" under schema id 7) is not a
// plain customer id: PlainString refuses it as malformed, kind framed-key;
// text keys, including short ones starting with NUL, pass.
func TestPlainStringRefusesFramedKeys(t *testing.T) {
	framed := append(AppendWireHeader(nil, 7), 6, 'c', '-', '1')
	_, err := PlainString().Decode("views", framed)
	if !errors.Is(err, ErrMalformed) || !errors.Is(err, ErrFramedKey) || KindOf(err) != KindFramedKey {
		t.Fatalf("framed key: err %v (kind %q), want malformed, framed-key", err, KindOf(err))
	}
	for _, k := range []string{"c-00001", "", "\x00ab"} {
		got, err := PlainString().Decode("views", []byte(k))
		if err != nil || got != k {
			t.Fatalf("key %q: got %q, %v", k, got, err)
		}
	}
}

func TestForTopicsPicksBySerdeTopic(t *testing.T) {
	s := ForTopics(PlainString(), String(), "in")
	framed := AppendWireHeader(nil, 1)
	if _, err := s.Decode("in", framed); !errors.Is(err, ErrFramedKey) {
		t.Fatalf("input topic: err %v, want the input serde's ErrFramedKey", err)
	}
	if got, err := s.Decode("app-store-changelog", framed); err != nil || got != string(framed) {
		t.Fatalf("internal topic: %q, %v; want the internal serde", got, err)
	}
}

// JSONOrFramed writes JSON and still reads values in the wire format (an
// earlier version's store) with the framed serde.
func TestJSONOrFramed(t *testing.T) {
	framed := framedString{}
	s := JSONOrFramed[string](framed)
	b, err := s.Encode("app-store-changelog", "vip")
	if err != nil || string(b) != `"vip"` {
		t.Fatalf("encode: %s, %v; want JSON", b, err)
	}
	for _, in := range [][]byte{b, append(AppendWireHeader(nil, 3), "vip"...)} {
		if got, err := s.Decode("app-store-changelog", in); err != nil || got != "vip" {
			t.Fatalf("decode %q: %q, %v", in, got, err)
		}
	}
	if _, err := s.Decode("t", []byte("{")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad JSON: %v, want ErrMalformed", err)
	}
}

type framedString struct{}

func (framedString) Encode(string, string) ([]byte, error) { return nil, errors.New("unused") }
func (framedString) Decode(_ string, b []byte) (string, error) {
	_, p, err := ParseWire(b)
	return string(p), err
}

// The string serdes append to the caller's buffer the bytes Encode gives.
func TestStringSerdesAppend(t *testing.T) {
	for _, s := range []Serde[string]{String(), PlainString()} {
		a, ok := s.(Appender[string])
		if !ok {
			t.Fatalf("%T is not an Appender", s)
		}
		enc, err := s.Encode("t", "c-1")
		if err != nil {
			t.Fatal(err)
		}
		b, err := a.AppendEncode([]byte("x:"), "t", "c-1")
		if err != nil || string(b) != "x:"+string(enc) || string(enc) != "c-1" {
			t.Fatalf("%T: appended %q, %v; Encode gives %q", s, b, err, enc)
		}
	}
}
