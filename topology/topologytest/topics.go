package topologytest

import (
	"fmt"
	"time"

	"github.com/weirstream/weir/codec"
)

// InputTopic pipes typed records into a topic.
type InputTopic[K, V any] struct {
	d     *Driver
	topic string
	ks    codec.Serde[K]
	vs    codec.Serde[V]
}

// Input returns a typed writer for topic.
func Input[K, V any](d *Driver, topic string, ks codec.Serde[K], vs codec.Serde[V]) *InputTopic[K, V] {
	return &InputTopic[K, V]{d: d, topic: topic, ks: ks, vs: vs}
}

// Pipe writes k, v at ts and processes everything it causes.
func (in *InputTopic[K, V]) Pipe(k K, v V, ts time.Time, headers ...codec.Header) error {
	kb, err := in.ks.Encode(in.topic, k)
	if err != nil {
		return fmt.Errorf("topologytest: encode key: %w", err)
	}
	vb, err := in.vs.Encode(in.topic, v)
	if err != nil {
		return fmt.Errorf("topologytest: encode value: %w", err)
	}
	if vb == nil {
		vb = []byte{} // a nil value would be a tombstone
	}
	return in.d.PipeRaw(in.topic, kb, vb, ts, headers...)
}

// PipeTombstone writes k with a nil value (a delete, for tables).
func (in *InputTopic[K, V]) PipeTombstone(k K, ts time.Time, headers ...codec.Header) error {
	kb, err := in.ks.Encode(in.topic, k)
	if err != nil {
		return fmt.Errorf("topologytest: encode key: %w", err)
	}
	return in.d.PipeRaw(in.topic, kb, nil, ts, headers...)
}

// Record is a decoded output record.
type Record[K, V any] struct {
	Key       K
	Value     V
	Tombstone bool // the value was nil; Value is the zero value
	Timestamp time.Time
	Partition int32 // -1 unless a partitioner chose it
	Headers   []codec.Header
}

// OutputTopic reads typed records written to a topic. Each OutputTopic
// has its own read position, starting at the first record.
type OutputTopic[K, V any] struct {
	d     *Driver
	topic string
	ks    codec.Serde[K]
	vs    codec.Serde[V]
	next  int
}

// Output returns a typed reader for topic.
func Output[K, V any](d *Driver, topic string, ks codec.Serde[K], vs codec.Serde[V]) *OutputTopic[K, V] {
	return &OutputTopic[K, V]{d: d, topic: topic, ks: ks, vs: vs}
}

// Read returns the next unread record; ok is false if there is none.
func (out *OutputTopic[K, V]) Read() (r Record[K, V], ok bool, err error) {
	all := out.d.outputs[out.topic]
	if out.next >= len(all) {
		return r, false, nil
	}
	o := all[out.next]
	out.next++
	if r.Key, err = out.ks.Decode(out.topic, o.Key); err != nil {
		return r, false, fmt.Errorf("topologytest: decode key: %w", err)
	}
	if o.Value == nil {
		r.Tombstone = true
	} else if r.Value, err = out.vs.Decode(out.topic, o.Value); err != nil {
		return r, false, fmt.Errorf("topologytest: decode value: %w", err)
	}
	r.Timestamp, r.Partition, r.Headers = o.Timestamp, o.Partition, o.Headers
	return r, true, nil
}

// ReadAll returns every unread record.
func (out *OutputTopic[K, V]) ReadAll() ([]Record[K, V], error) {
	var rs []Record[K, V]
	for {
		r, ok, err := out.Read()
		if err != nil || !ok {
			return rs, err
		}
		rs = append(rs, r)
	}
}

// ReadKeyValues returns every unread record as key and value only.
func (out *OutputTopic[K, V]) ReadKeyValues() ([]KeyValue[K, V], error) {
	rs, err := out.ReadAll()
	kvs := make([]KeyValue[K, V], len(rs))
	for i, r := range rs {
		kvs[i] = KeyValue[K, V]{Key: r.Key, Value: r.Value}
	}
	return kvs, err
}
