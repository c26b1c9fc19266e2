package profile

import (
	"fmt"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/topology"
)

// Erasure requests (Topics.Erasures) are merged with the events, so they
// reach the profile processor in order with them. There the processor
// forgets the customer (its cached profile, pending update and cart
// timer) and emits a tombstone for the profile output and an audit
// record; then the task core deletes the customer from every store of
// the sub-topology (topology.ErasuresOf) and ignores their events up to
// the request's time.

// erasedFrom is what an audit record lists: the stores the customer is
// deleted from, their changelogs, the outputs that get a tombstone.
type erasedFrom struct {
	app                         string
	stores, changelogs, outputs []string
}

// fill lists the stores of the sub-topology reading topic, but the one
// keeping the erasures.
func (e *erasedFrom) fill(topo *topology.Topology, topic string) {
	id, _ := topo.SubtopologyOf(topic)
	for _, st := range topo.Subtopologies()[id].Stores {
		if st.Name == topic {
			continue
		}
		e.stores = append(e.stores, st.Name)
		e.changelogs = append(e.changelogs, st.Changelog)
	}
}

// erase forgets id in the processor and emits the audit record.
func (p *profiler) erase(ctx *topology.Context[string, output], id string, r *events.ErasureRequest) error {
	if c, err := p.get(id); err != nil {
		return err
	} else if c != nil && c.s.CartDeadline != 0 {
		k, err := p.timerKey(id, c.s.CartDeadline)
		if err != nil {
			return err
		}
		if err := p.timers.Delete(k); err != nil {
			return err
		}
	}
	delete(p.cache, id)
	p.dirty = without(p.dirty, id)
	if p.isChanged[id] {
		delete(p.isChanged, id)
		p.changed = without(p.changed, id)
	}
	meta, _ := ctx.Record()
	a := events.ErasureAudit{
		RequestID: r.RequestID, CustomerID: id, RequestedBy: r.RequestedBy, RequestedAt: r.RequestedAt, Reason: r.Reason,
		Application: p.erased.app, Task: ctx.TaskID().String(),
		Stores: p.erased.stores, Changelogs: p.erased.changelogs, Outputs: p.erased.outputs,
	}
	return ctx.ForwardAt(id, output{erased: &a}, meta.Timestamp)
}

func without(ids []string, id string) []string {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// ErasureRecord encodes r as the record to write to cfg's erasures topic:
// keyed like the inputs (KeyFormat), so it reaches the customer's task.
func ErasureRecord(cfg Config, r events.ErasureRequest) (topology.Output, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return topology.Output{}, err
	}
	tp, sd := cfg.Topics, cfg.Serdes
	if tp.Erasures == "" {
		return topology.Output{}, fmt.Errorf("%w: no Topics.Erasures", ErrConfig)
	}
	keys := sd.Key
	if cfg.KeyFormat == KeyAvro {
		keys = sd.AvroKey
	}
	k, err := keys.Encode(tp.Erasures, r.CustomerID)
	if err != nil {
		return topology.Output{}, fmt.Errorf("erasure request key: %w", err)
	}
	v, err := sd.Erasure.Encode(tp.Erasures, r)
	if err != nil {
		return topology.Output{}, fmt.Errorf("erasure request: %w", err)
	}
	return topology.Output{Topic: tp.Erasures, Partition: -1, Key: k, Value: v, Timestamp: r.RequestedAt}, nil
}
