package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/topology"
)

// ErrTopics wraps start-up errors about topics: missing, or with the
// wrong partition count.
var ErrTopics = errors.New("processor: topic check failed")

// missingTopicWait is how long start-up looks for a topic that is not in
// the metadata yet before failing.
const missingTopicWait = 5 * time.Second

// deadLetter marks the dead-letter topic among the internal topics.
const deadLetter topology.InternalTopicKind = "dead-letter"

// plan is what a worker derives from the topology and the cluster at
// start-up.
type plan struct {
	subs       []topology.Subtopology
	partitions map[int]int32    // sub-topology -> partition count (its tasks)
	counts     map[string]int32 // every topic the app reads or writes
	consume    []string         // every source topic, internal ones included
	identity   state.Identity
	globals    []topology.GlobalTableInfo
}

// stateful reports whether a sub-topology has a changelogged store,
// which standby replicas can follow.
func (p *plan) stateful(sub int) bool {
	if sub < 0 || sub >= len(p.subs) {
		return false
	}
	for _, st := range p.subs[sub].Stores {
		if st.Changelog != "" {
			return true
		}
	}
	return false
}

// prepare checks the source topics, creates the internal ones and works
// out the partition count of every sub-topology.
func (a *App) prepare(ctx context.Context) (*plan, error) {
	cl, err := a.newClient("admin")
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := a.checkConnection(ctx, cl); err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)

	p := &plan{
		subs:       a.topo.Subtopologies(),
		partitions: map[int]int32{},
		counts:     map[string]int32{},
		globals:    a.topo.GlobalTables(),
	}
	internal := a.topo.InternalTopics()
	isInternal := map[string]bool{}
	for _, it := range internal {
		isInternal[it.Name] = true
	}

	// External topics: sources, sinks, global tables.
	var external []string
	seen := map[string]bool{}
	addExt := func(t string) {
		if !seen[t] && !isInternal[t] {
			seen[t] = true
			external = append(external, t)
		}
	}
	for _, s := range p.subs {
		for _, src := range s.Sources {
			addExt(src.Topic)
		}
	}
	for _, g := range p.globals {
		addExt(g.Topic)
	}
	sinkOnly := map[string]bool{}
	for _, s := range p.subs {
		for _, sk := range s.Sinks {
			if !seen[sk.Topic] && !isInternal[sk.Topic] {
				sinkOnly[sk.Topic] = true
			}
		}
	}

	ctx, cancel := context.WithTimeout(ctx, 60*sec)
	defer cancel()
	var md kadm.Metadata
	// A topic created just before start-up can take a moment to show in
	// the metadata of the broker asked: look again for a few seconds
	// before calling it missing.
	settle := time.Now().Add(missingTopicWait)
	for {
		err = retry(ctx, a.log, "read cluster metadata", func() error {
			var err error
			md, err = adm.Metadata(ctx)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("processor: cannot reach Kafka at %v: %w", a.cfg.brokers, err)
		}
		missing := false
		for _, t := range append(external, sortedKeys(sinkOnly)...) {
			if td, ok := md.Topics[t]; !ok || td.Err != nil {
				missing = true
			}
		}
		if !missing || !time.Now().Before(settle) {
			break
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
	p.identity = state.Identity{ClusterID: md.Cluster, ApplicationID: a.topo.AppID(), TopicIDs: map[string][16]byte{}}

	var errs []error
	for _, t := range external {
		td, ok := md.Topics[t]
		if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			errs = append(errs, fmt.Errorf("%w: source topic %q does not exist: create it, or fix the topic name in the topology", ErrTopics, t))
			continue
		}
		if td.Err != nil {
			errs = append(errs, fmt.Errorf("%w: topic %q: %v", ErrTopics, t, td.Err))
			continue
		}
		p.counts[t] = int32(len(td.Partitions))
	}
	for t := range sinkOnly {
		if td, ok := md.Topics[t]; ok && td.Err == nil {
			p.counts[t] = int32(len(td.Partitions))
		} else {
			errs = append(errs, fmt.Errorf("%w: output topic %q does not exist: create it before starting the application", ErrTopics, t))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	// Co-partitioning: every external source of a sub-topology must have
	// the same partition count, since task N reads partition N of each.
	for _, s := range p.subs {
		var first string
		for _, src := range s.Sources {
			if src.Internal {
				continue
			}
			if first == "" {
				first = src.Topic
				continue
			}
			if p.counts[src.Topic] != p.counts[first] {
				errs = append(errs, fmt.Errorf("%w: topics %q (%d partitions) and %q (%d partitions) are read by one sub-topology and must have the same partition count: repartition one of them",
					ErrTopics, first, p.counts[first], src.Topic, p.counts[src.Topic]))
			}
		}
	}

	// Internal topics follow the largest of their external topics.
	want := map[string]int32{}
	for _, it := range internal {
		var n int32
		for _, t := range it.PartitionsFrom {
			n = max(n, p.counts[t])
		}
		if n == 0 {
			errs = append(errs, fmt.Errorf("%w: internal topic %q: cannot tell its partition count", ErrTopics, it.Name))
			continue
		}
		want[it.Name] = n
		p.counts[it.Name] = n
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// The dead-letter topic is internal too, sized like the widest source.
	dlq := topology.InternalTopic{Name: a.topo.DeadLetterTopic(), Kind: deadLetter}
	if _, ok := want[dlq.Name]; !ok {
		var n int32
		for _, t := range external {
			n = max(n, p.counts[t])
		}
		internal = append(internal, dlq)
		want[dlq.Name] = max(n, 1)
		p.counts[dlq.Name] = max(n, 1)
	}
	if err := a.ensureInternal(ctx, adm, md, internal, want, p.counts); err != nil {
		return nil, err
	}

	// Topic ids of changelogs, to recognise state from another topic
	// incarnation.
	var changelogs []string
	for _, it := range internal {
		if it.Kind == topology.Changelog {
			changelogs = append(changelogs, it.Name)
		}
	}
	if len(changelogs) > 0 {
		ids, err := readTopicIDs(ctx, askMetadata(cl), changelogs, topicIDWait, a.log)
		if err != nil {
			return nil, err
		}
		maps.Copy(p.identity.TopicIDs, ids)
	}

	for _, s := range p.subs {
		var n int32
		for _, src := range s.Sources {
			n = max(n, p.counts[src.Topic])
			p.consume = append(p.consume, src.Topic)
		}
		p.partitions[s.ID] = n
	}
	sort.Strings(p.consume)
	return p, nil
}

// ensureInternal creates the internal topics that are missing and checks
// the partition counts of the others, recording actual counts in counts.
func (a *App) ensureInternal(ctx context.Context, adm *kadm.Client, md kadm.Metadata, internal []topology.InternalTopic, want, counts map[string]int32) error {
	rf := int16(min(3, len(md.Brokers)))
	var errs []error
	for _, it := range internal {
		n := want[it.Name]
		if td, ok := md.Topics[it.Name]; ok && td.Err == nil {
			if it.Kind == deadLetter {
				counts[it.Name] = int32(len(td.Partitions)) // any count will do
				continue
			}
			if got := int32(len(td.Partitions)); got != n {
				errs = append(errs, fmt.Errorf("%w: internal topic %q has %d partitions, the application needs %d: delete it (and the application's state) or restore the source topics' partition counts",
					ErrTopics, it.Name, got, n))
			}
			continue
		}
		configs := map[string]*string{}
		switch it.Kind {
		case topology.Changelog:
			configs["cleanup.policy"] = kadm.StringPtr("compact")
		case deadLetter:
			configs["cleanup.policy"] = kadm.StringPtr("delete")
			// Retention counts from when a record was dead-lettered, not
			// from its event time (kept in the weir.timestamp header):
			// a backfill's bad records must not vanish on arrival.
			configs["message.timestamp.type"] = kadm.StringPtr("LogAppendTime")
		case topology.Repartition:
			configs["cleanup.policy"] = kadm.StringPtr("delete")
			configs["retention.ms"] = kadm.StringPtr("-1")
		}
		resp, err := adm.CreateTopic(ctx, n, rf, configs, it.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("%w: create internal topic %q: %v", ErrTopics, it.Name, err))
			continue
		}
		a.log.Info("created internal topic", zap.String("topic", it.Name), zap.String("kind", string(it.Kind)), zap.Int32("partitions", n))
	}
	return errors.Join(errs...)
}

// topicIDWait bounds how long start-up waits for new changelogs to show
// their topic ids in the metadata.
const topicIDWait = 30 * time.Second

// metadataFunc asks the cluster for the metadata of topics.
type metadataFunc func(ctx context.Context, topics []string) (*kmsg.MetadataResponse, error)

// askMetadata asks a broker directly. kadm's Metadata may answer from the
// client's cache, which keeps a "not known yet" answer for seconds.
func askMetadata(cl *kgo.Client) metadataFunc {
	return func(ctx context.Context, topics []string) (*kmsg.MetadataResponse, error) {
		req := kmsg.NewPtrMetadataRequest()
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
		return req.RequestWith(ctx, cl)
	}
}

// readTopicIDs returns the Kafka topic id of each topic, asking again
// while any is missing, in error or all zeros. Right after CreateTopics a
// broker whose metadata has not caught up answers "unknown topic" with
// a zero id: stored in a checkpoint, that id would make the next start
// discard its local state and restore everything. A zero id is therefore
// never returned; after wait it is an error wrapping ErrTopics.
func readTopicIDs(ctx context.Context, ask metadataFunc, topics []string, wait time.Duration, log *zap.Logger) (map[string][16]byte, error) {
	deadline := time.Now().Add(wait)
	backoff := 20 * time.Millisecond
	for {
		ids := make(map[string][16]byte, len(topics))
		resp, why := ask(ctx, topics)
		if why == nil {
			got := make(map[string]kmsg.MetadataResponseTopic, len(resp.Topics))
			for _, rt := range resp.Topics {
				if rt.Topic != nil {
					got[*rt.Topic] = rt
				}
			}
			for _, t := range topics {
				rt, ok := got[t]
				switch {
				case !ok:
					why = errors.Join(why, fmt.Errorf("topic %q: not in the metadata", t))
				case rt.ErrorCode != 0:
					why = errors.Join(why, fmt.Errorf("topic %q: %w", t, kerr.ErrorForCode(rt.ErrorCode)))
				case rt.TopicID == [16]byte{}:
					why = errors.Join(why, fmt.Errorf("topic %q: the metadata has no topic id yet (all zeros)", t))
				default:
					ids[t] = rt.TopicID
				}
			}
		}
		if why == nil {
			return ids, nil
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("%w: no topic id after %v: %v: check that the brokers support topic ids (Kafka 2.8+) and start again", ErrTopics, wait, why)
		}
		log.Debug("waiting for topic ids", zap.Error(why))
		if err := sleepCtx(ctx, backoff); err != nil {
			return nil, fmt.Errorf("processor: waiting for topic ids: %w (last answer: %v)", err, why)
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}
