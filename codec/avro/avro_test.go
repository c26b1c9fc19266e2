package avro_test

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/codec/avro"
)

// Three versions of one record, for evolution.
const (
	userV1 = `{"type":"record","name":"User","namespace":"test.weir","fields":[
		{"name":"id","type":"string"},
		{"name":"age","type":"int"},
		{"name":"nickname","type":"string","default":""}]}`
	// v2: age widened to long, nickname removed, email added with a default.
	userV2 = `{"type":"record","name":"User","namespace":"test.weir","fields":[
		{"name":"id","type":"string"},
		{"name":"age","type":"long"},
		{"name":"email","type":"string","default":"unknown@example.com"}]}`
	// v3: v1 plus a field with a default; v1 readers can read it.
	userV3 = `{"type":"record","name":"User","namespace":"test.weir","fields":[
		{"name":"id","type":"string"},
		{"name":"age","type":"int"},
		{"name":"nickname","type":"string","default":""},
		{"name":"tags","type":{"type":"array","items":"string"},"default":[]}]}`
	// Another record type entirely.
	orderSchema = `{"type":"record","name":"Order","namespace":"test.weir","fields":[
		{"name":"order_id","type":"string"},
		{"name":"cents","type":"long"}]}`
)

type UserV1 struct {
	ID       string `avro:"id"`
	Age      int32  `avro:"age"`
	Nickname string `avro:"nickname"`
}

type UserV2 struct {
	ID    string `avro:"id"`
	Age   int64  `avro:"age"`
	Email string `avro:"email"`
}

type UserV3 struct {
	ID       string   `avro:"id"`
	Age      int32    `avro:"age"`
	Nickname string   `avro:"nickname"`
	Tags     []string `avro:"tags"`
}

type Order struct {
	OrderID string `avro:"order_id"`
	Cents   int64  `avro:"cents"`
}

func TestAvroRoundTripAndFraming(t *testing.T) {
	fake := newFake(t)
	reg, _ := newRegistry(t, fake)
	s := mustAvro[UserV1](t, reg, userV1, avro.AutoRegister())
	in := UserV1{ID: "c-1", Age: 42, Nickname: "zed"}
	b, err := s.Encode("users", in)
	if err != nil {
		t.Fatal(err)
	}
	id, payload, err := codec.ParseWire(b)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := fake.GetSchema("users-value", 1)
	if !ok || got.ID != int(id) {
		t.Fatalf("framed id %d, registry has users-value v1 = %+v (found %v)", id, got, ok)
	}
	// Avro binary of {"c-1", 42, "zed"}: zigzag lengths and ints.
	want := []byte{6, 'c', '-', '1', 84, 6, 'z', 'e', 'd'}
	if string(payload) != string(want) {
		t.Fatalf("payload %x, want %x", payload, want)
	}
	out, err := s.Decode("users", b)
	if err != nil || out != in {
		t.Fatalf("Decode = %+v, %v; want %+v", out, err, in)
	}
}

func TestAvroDecodeDoesNotRetainInput(t *testing.T) {
	reg, _ := newRegistry(t, newFake(t))
	s := mustAvro[UserV1](t, reg, userV1, avro.AutoRegister())
	b, err := s.Encode("users", UserV1{ID: "keep-me", Age: 1})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Decode("users", b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if out.ID != "keep-me" {
		t.Fatalf("decoded string changed with the input buffer: %q", out.ID)
	}
}

func TestSubjectNameStrategies(t *testing.T) {
	for _, tc := range []struct {
		strategy avro.SubjectNameStrategy
		key      bool
		want     string
	}{
		{avro.TopicName, false, "users-value"},
		{avro.TopicName, true, "users-key"},
		{avro.RecordName, false, "test.weir.User"},
		{avro.TopicRecordName, false, "users-test.weir.User"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			fake := newFake(t)
			reg, _ := newRegistry(t, fake)
			opts := []avro.Opt{avro.AutoRegister(), avro.SubjectStrategy(tc.strategy)}
			if tc.key {
				opts = append(opts, avro.ForKeys())
			}
			s := mustAvro[UserV1](t, reg, userV1, opts...)
			if got := s.Subject("users"); got != tc.want {
				t.Fatalf("Subject = %q, want %q", got, tc.want)
			}
			if _, err := s.Encode("users", UserV1{ID: "a"}); err != nil {
				t.Fatal(err)
			}
			if !fake.SubjectExists(tc.want) {
				t.Fatalf("Encode did not register subject %q", tc.want)
			}
		})
	}
}

func TestRecordNameStrategyNeedsNamedSchema(t *testing.T) {
	reg, _ := newRegistry(t, newFake(t))
	_, err := avro.New[string](reg, `"string"`, avro.SubjectStrategy(avro.RecordName))
	if err == nil || !strings.Contains(err.Error(), "use TopicName") {
		t.Fatalf("Avro(string schema, RecordName) error = %v, want one that says to use TopicName", err)
	}
}

func TestEncodeWithoutAutoRegister(t *testing.T) {
	fake := newFake(t)
	reg, cc := newRegistry(t, fake)
	s := mustAvro[UserV1](t, reg, userV1)
	_, err := s.Encode("users", UserV1{ID: "a"})
	if !errors.Is(err, codec.ErrNotRegistered) || !strings.Contains(err.Error(), "AutoRegister") {
		t.Fatalf("Encode before registration: %v, want ErrNotRegistered naming AutoRegister", err)
	}
	if n := cc.lookup.Load(); n != 1 {
		t.Fatalf("not-registered lookup was tried %d times, want 1 (a configuration error is not retried)", n)
	}
	if cc.reg.Load() != 0 || fake.SubjectExists("users-value") {
		t.Fatalf("Encode without AutoRegister registered the schema")
	}

	// Once someone registers it, the lookup finds the same id.
	producer := mustAvro[UserV1](t, reg, userV1, avro.AutoRegister())
	pb, err := producer.Encode("users", UserV1{ID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Encode("users", UserV1{ID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(pb) {
		t.Fatalf("lookup framed %x, registering serde framed %x", b, pb)
	}
}

func TestEncodeCachesSchemaID(t *testing.T) {
	reg, cc := newRegistry(t, newFake(t))
	s := mustAvro[UserV1](t, reg, userV1, avro.AutoRegister())
	for i := range 5 {
		b, err := s.Encode("users", UserV1{ID: "a", Age: int32(i)})
		if err != nil {
			t.Fatal(err)
		}
		// The registry knows our own writes: no fetch by id.
		if _, err := s.Decode("users", b); err != nil {
			t.Fatal(err)
		}
	}
	if r, l, g := cc.reg.Load(), cc.lookup.Load(), cc.byID.Load(); r != 1 || l != 0 || g != 0 {
		t.Fatalf("registry calls: register %d, lookup %d, by id %d; want 1, 0, 0", r, l, g)
	}
}

func TestEvolution(t *testing.T) {
	fake := newFake(t)
	reg, _ := newRegistry(t, fake)
	w1 := mustAvro[UserV1](t, reg, userV1, avro.AutoRegister())
	w2 := mustAvro[UserV2](t, reg, userV2, avro.AutoRegister())
	w3 := mustAvro[UserV3](t, reg, userV3, avro.AutoRegister())

	v1 := UserV1{ID: "u1", Age: 30, Nickname: "old"}
	b1, err := w1.Encode("users", v1)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := w2.Encode("users", UserV2{ID: "u2", Age: 1 << 40, Email: "u2@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	b3, err := w3.Encode("users", UserV3{ID: "u3", Age: 7, Nickname: "n3", Tags: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}

	// A fresh consumer registry: every writer schema comes from the registry.
	creg, cc := newRegistry(t, fake)
	r1 := mustAvro[UserV1](t, creg, userV1)
	r2 := mustAvro[UserV2](t, creg, userV2)

	t.Run("old writer, new reader: promotion, default, dropped field", func(t *testing.T) {
		got, err := r2.Decode("users", b1)
		want := UserV2{ID: "u1", Age: 30, Email: "unknown@example.com"}
		if err != nil || got != want {
			t.Fatalf("v2 reading v1 = %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("new writer, old reader: added field skipped", func(t *testing.T) {
		got, err := r1.Decode("users", b3)
		want := UserV1{ID: "u3", Age: 7, Nickname: "n3"}
		if err != nil || got != want {
			t.Fatalf("v1 reading v3 = %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("new writer, old reader: narrowing is incompatible", func(t *testing.T) {
		_, err := r1.Decode("users", b2)
		if !errors.Is(err, codec.ErrIncompatibleSchema) || !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("v1 reading v2 (long->int): %v, want ErrIncompatibleSchema and ErrMalformed", err)
		}
	})
	t.Run("another record type is incompatible", func(t *testing.T) {
		ow := mustAvro[Order](t, reg, orderSchema, avro.AutoRegister(), avro.SubjectStrategy(avro.TopicRecordName))
		ob, err := ow.Encode("users", Order{OrderID: "o1", Cents: 5})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r1.Decode("users", ob)
		if !errors.Is(err, codec.ErrIncompatibleSchema) {
			t.Fatalf("User reader on an Order: %v, want ErrIncompatibleSchema", err)
		}
	})
	t.Run("resolution cached per writer id", func(t *testing.T) {
		before := cc.byID.Load()
		for range 3 {
			if _, err := r2.Decode("users", b1); err != nil {
				t.Fatal(err)
			}
			if _, err := r1.Decode("users", b2); err == nil {
				t.Fatal("incompatible decode succeeded")
			}
		}
		if n := cc.byID.Load() - before; n != 0 {
			t.Fatalf("%d registry fetches for already-seen ids, want 0", n)
		}
	})
}

func TestDecodeBadInput(t *testing.T) {
	fake := newFake(t)
	reg, _ := newRegistry(t, fake)
	s := mustAvro[UserV1](t, reg, userV1, avro.AutoRegister(), avro.MaxRecordBytes(64))
	good, err := s.Encode("users", UserV1{ID: "abc", Age: 5, Nickname: "n"})
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := codec.ParseWire(good)
	withID := func(id uint32, payload ...byte) []byte { return append(codec.AppendWireHeader(nil, id), payload...) }

	for _, tc := range []struct {
		name  string
		in    []byte
		wants []error
	}{
		{"wrong magic", append([]byte{1}, good[1:]...), []error{codec.ErrMalformed}},
		{"shorter than header", good[:3], []error{codec.ErrMalformed}},
		{"truncated payload", good[:len(good)-2], []error{codec.ErrMalformed}},
		{"trailing bytes", append(append([]byte{}, good...), 0), []error{codec.ErrMalformed}},
		{"string length past end", withID(id, 0x7e), []error{codec.ErrMalformed}},
		{"negative string length", withID(id, 0x01), []error{codec.ErrMalformed}},
		{"unknown schema id", withID(id+1000, good[5:]...), []error{codec.ErrMalformed, codec.ErrUnknownSchema}},
		{"oversized", withID(id, make([]byte, 64)...), []error{codec.ErrMalformed, codec.ErrTooLarge}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := s.Decode("users", tc.in)
			for _, w := range tc.wants {
				if !errors.Is(err, w) {
					t.Errorf("Decode(%x) error = %v, want it to wrap %v", tc.in, err, w)
				}
			}
			if errors.Is(err, codec.ErrRegistryUnavailable) {
				t.Errorf("bad bytes reported as an outage: %v", err)
			}
			if v != (UserV1{}) {
				t.Errorf("Decode returned %+v with an error, want the zero value", v)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	reg, _ := newRegistry(t, newFake(t))
	type withEnum struct {
		Color string `avro:"color"`
	}
	enum := `{"type":"record","name":"E","fields":[{"name":"color","type":{"type":"enum","name":"Color","symbols":["RED"]}}]}`
	s := mustAvro[withEnum](t, reg, enum, avro.AutoRegister())
	if _, err := s.Encode("t", withEnum{Color: "BLUE"}); !errors.Is(err, codec.ErrInvalidValue) {
		t.Fatalf("Encode(unknown enum symbol) = %v, want ErrInvalidValue", err)
	}
	big := mustAvro[UserV1](t, reg, userV1, avro.AutoRegister(), avro.MaxRecordBytes(16))
	_, err := big.Encode("t", UserV1{ID: strings.Repeat("x", 100)})
	if !errors.Is(err, codec.ErrTooLarge) || errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("Encode(oversized) = %v, want ErrTooLarge and not ErrMalformed", err)
	}
}

func TestAvroOptionValidation(t *testing.T) {
	reg, _ := newRegistry(t, newFake(t))
	for _, tc := range []struct {
		name   string
		schema string
		opts   []avro.Opt
		hint   string
	}{
		{"bad schema", `{"type":"record"`, nil, "does not parse"},
		{"negative max", userV1, []avro.Opt{avro.MaxRecordBytes(-1)}, "MaxRecordBytes"},
		{"max below header", userV1, []avro.Opt{avro.MaxRecordBytes(3)}, "header"},
		{"unknown strategy", userV1, []avro.Opt{avro.SubjectStrategy(9)}, "TopicName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := avro.New[UserV1](reg, tc.schema, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.hint) {
				t.Fatalf("Avro error = %v, want one mentioning %q", err, tc.hint)
			}
		})
	}
	if _, err := avro.New[UserV1](nil, userV1); err == nil || !strings.Contains(err.Error(), "NewRegistry") {
		t.Fatalf("Avro(nil registry) = %v, want an error naming NewRegistry", err)
	}
}

func TestRegistryOptionValidation(t *testing.T) {
	hc, err := avro.NewHTTPRegistryClient("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opt  avro.RegistryOpt
		hint string
	}{
		{avro.RetryAttempts(0), "RetryAttempts"},
		{avro.RetryBackoff(0, 1), "initial"},
		{avro.RetryBackoff(2, 1), "max"},
		{avro.RetryTimeout(-1), "RetryTimeout"},
		{avro.UnknownIDTTL(-1), "UnknownIDTTL"},
		{avro.RegistryLogger(nil), "zap.NewNop"},
	} {
		if _, err := avro.NewRegistry(hc, tc.opt); err == nil || !strings.Contains(err.Error(), tc.hint) {
			t.Errorf("NewRegistry error = %v, want one mentioning %q", err, tc.hint)
		}
	}
	for _, u := range []string{"", "localhost:8081", "ftp://x", "http://"} {
		if _, err := avro.NewHTTPRegistryClient(u); err == nil {
			t.Errorf("NewHTTPRegistryClient(%q) accepted a bad URL", u)
		}
	}
}

func TestSerdeInterface(t *testing.T) {
	reg, _ := newRegistry(t, newFake(t))
	var s codec.Serde[UserV1] = mustAvro[UserV1](t, reg, userV1, avro.AutoRegister())
	b, err := s.Encode("users", UserV1{ID: "i"})
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint32(b[1:5]); got == 0 {
		t.Fatalf("schema id 0 in frame %x", b)
	}
	if v, err := s.Decode("users", b); err != nil || !reflect.DeepEqual(v, UserV1{ID: "i"}) {
		t.Fatalf("Decode via Serde = %+v, %v", v, err)
	}
}

func TestConcurrentDecodeFetchesEachIDOnce(t *testing.T) {
	fake := newFake(t)
	preg, _ := newRegistry(t, fake)
	w1 := mustAvro[UserV1](t, preg, userV1, avro.AutoRegister())
	w3 := mustAvro[UserV3](t, preg, userV3, avro.AutoRegister())
	b1, err := w1.Encode("users", UserV1{ID: "a", Age: 1})
	if err != nil {
		t.Fatal(err)
	}
	b3, err := w3.Encode("users", UserV3{ID: "b", Age: 2, Tags: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	creg, cc := newRegistry(t, fake)
	r := mustAvro[UserV1](t, creg, userV1)
	errs := make(chan error, 16)
	for g := range 16 {
		go func() {
			var err error
			for i := range 50 {
				in := b1
				if (g+i)%2 == 1 {
					in = b3
				}
				if _, e := r.Decode("users", in); e != nil && err == nil {
					err = e
				}
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := cc.byID.Load(); n != 2 {
		t.Fatalf("16 goroutines fetched %d schemas for 2 ids, want 2", n)
	}
}
