package avro

import (
	"context"
	"fmt"
	"github.com/weirstream/weir/codec"
	"sync"
	"testing"
	"time"
)

// memClient is an in-process RegistryClient for fuzzing and clock tests,
// where HTTP would only slow things down.
type memClient struct {
	mu      sync.Mutex
	schemas map[uint32]string
	ids     map[subjectSchema]uint32
	byID    int
}

func newMemClient() *memClient {
	return &memClient{schemas: map[uint32]string{}, ids: map[subjectSchema]uint32{}}
}

func (m *memClient) SchemaByID(_ context.Context, id uint32) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byID++
	s, ok := m.schemas[id]
	if !ok {
		return "", fmt.Errorf("%w: %d", codec.ErrUnknownSchema, id)
	}
	return s, nil
}

func (m *memClient) LookupID(_ context.Context, subject, schema string) (uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.ids[subjectSchema{subject, schema}]
	if !ok {
		return 0, codec.ErrNotRegistered
	}
	return id, nil
}

func (m *memClient) Register(_ context.Context, subject, schema string) (uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := subjectSchema{subject, schema}
	if id, ok := m.ids[k]; ok {
		return id, nil
	}
	id := uint32(len(m.schemas) + 1)
	m.schemas[id] = schema
	m.ids[k] = id
	return id, nil
}

func (m *memClient) fetches() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byID
}

func TestUnknownIDForgottenAfterTTL(t *testing.T) {
	mc := newMemClient()
	now := time.Unix(1000, 0)
	reg, err := NewRegistry(mc, RetryAttempts(1), UnknownIDTTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	reg.cfg.now = func() time.Time { return now }
	if _, err := reg.writerSchema(context.Background(), reg.budget(false), 7); err == nil {
		t.Fatal("unknown id resolved")
	}
	now = now.Add(59 * time.Second)
	_, _ = reg.writerSchema(context.Background(), reg.budget(false), 7)
	if n := mc.fetches(); n != 1 {
		t.Fatalf("within the TTL: %d fetches, want 1", n)
	}
	// The id shows up (a lagging replica caught up); after the TTL it is found.
	mc.mu.Lock()
	mc.schemas[7] = `"string"`
	mc.mu.Unlock()
	now = now.Add(2 * time.Second)
	if _, err := reg.writerSchema(context.Background(), reg.budget(false), 7); err != nil {
		t.Fatalf("after the TTL: %v", err)
	}
	if n := mc.fetches(); n != 2 {
		t.Fatalf("after the TTL: %d fetches, want 2", n)
	}
}
