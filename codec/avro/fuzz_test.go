package avro

import (
	"errors"
	"fmt"
	"github.com/weirstream/weir/codec"
	"testing"
)

const fuzzSchema = `{"type":"record","name":"F","namespace":"fuzz","fields":[
	{"name":"s","type":"string"},
	{"name":"n","type":["null","long"],"default":null},
	{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
	{"name":"a","type":{"type":"array","items":{"type":"record","name":"I","fields":[
		{"name":"k","type":"string"},{"name":"d","type":"double"}]}}},
	{"name":"m","type":{"type":"map","values":"int"}},
	{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"b","type":"bytes"}]}`

type fuzzItem struct {
	K string  `avro:"k"`
	D float64 `avro:"d"`
}

type fuzzRecord struct {
	S string           `avro:"s"`
	N *int64           `avro:"n"`
	E string           `avro:"e"`
	A []fuzzItem       `avro:"a"`
	M map[string]int32 `avro:"m"`
	T int64            `avro:"t"`
	B []byte           `avro:"b"`
}

// String prints r with N dereferenced and maps sorted (fmt sorts them),
// NaN-safe, for comparing values in the fuzz target.
func (r fuzzRecord) String() string {
	n := "null"
	if r.N != nil {
		n = fmt.Sprint(*r.N)
	}
	return fmt.Sprintf("%q %s %q %v %v %d %x", r.S, n, r.E, r.A, r.M, r.T, r.B)
}

func FuzzAvroDecode(f *testing.F) {
	mc := newMemClient()
	reg, err := NewRegistry(mc, RetryAttempts(1))
	if err != nil {
		f.Fatal(err)
	}
	s, err := New[fuzzRecord](reg, fuzzSchema, AutoRegister(), MaxRecordBytes(1<<16))
	if err != nil {
		f.Fatal(err)
	}
	n := int64(-3)
	seed, err := s.Encode("t", fuzzRecord{S: "x", N: &n, E: "B", A: []fuzzItem{{"k", 1.5}}, M: map[string]int32{"a": 1}, T: 99, B: []byte{1}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)-1])
	f.Add(append(codec.AppendWireHeader(nil, 1), 0xff, 0xff, 0xff, 0xff, 0x0f))
	f.Add(append(codec.AppendWireHeader(nil, 9), seed[5:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := s.Decode("t", b)
		if err != nil {
			if !errors.Is(err, codec.ErrMalformed) {
				t.Fatalf("bad bytes gave %v, which does not wrap ErrMalformed", err)
			}
			return
		}
		// Whatever decodes must encode and decode back to the same value.
		// (Not the same bytes: Go map order varies between encodes.)
		out, err := s.Encode("t", v)
		if err != nil {
			t.Fatalf("decoded %+v but cannot encode it: %v", v, err)
		}
		v2, err := s.Decode("t", out)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if a, b := v.String(), v2.String(); a != b {
			t.Fatalf("round trip changed the value:\n%s\n%s", a, b)
		}
	})
}
