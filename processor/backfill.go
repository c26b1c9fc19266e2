package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirstream/weir/topology"
)

// ErrBackfillBehind: the backfill has not yet read an input partition as
// far as the live application did, so promoting it would take the live
// application back in time. Let the backfill run until it has caught up.
var ErrBackfillBehind = errors.New("the backfill is behind the live application")

// ErrBackfillPartial: the backfill started after the first record ever
// written to some input (-from, or records deleted by retention), so its
// state lacks what came before. Promote it only on purpose
// (Backfill.AllowPartial).
var ErrBackfillPartial = errors.New("the backfill did not start at the inputs' first records")

// startGroup names the consumer group that records where a backfill
// started (its committed offsets, never consumed): the promote checks it.
func startGroup(shadowApp string) string { return shadowApp + "-start" }

// VersionFunc reads the version out of an output record: versions of a
// key only grow, and a version always names the same state, so a
// consumer that applies version > stored sees no regression. ok is false
// for a record without one. The library knows no record format; the
// application passes it (weir passes the profile updates' version).
type VersionFunc func(key, value []byte) (version int64, ok bool, err error)

// Backfill is a rebuild of an application's state and outputs from its
// inputs' history, run beside the live workers under a shadow
// application id, then promoted to be the application's.
type Backfill struct {
	// Live is the topology the live workers will run after the promote,
	// under the live application id: its internal topics and consumer
	// group are the ones replaced.
	Live *topology.Topology
	// Shadow is the same topology under the shadow application id (its
	// consumer group and internal topics), writing to the shadow outputs.
	Shadow *topology.Topology
	// Outputs maps each shadow output topic to the live one it stands for.
	Outputs map[string]string
	// Versions says, per live output topic, how to read a record's
	// version. The promote carries a shadow output over to its live topic
	// only when it has one; the others (triggers, say) stay as they are.
	Versions map[string]VersionFunc
	// AllowPartial promotes a backfill that did not start at the inputs'
	// first records (ErrBackfillPartial otherwise).
	AllowPartial bool
}

func (b Backfill) check() error {
	if b.Live == nil || b.Shadow == nil {
		return fmt.Errorf("%w: backfill: the live and the shadow topologies are both required", ErrConfig)
	}
	if err := checkAppID(b.Live.AppID()); err != nil {
		return err
	}
	if err := checkAppID(b.Shadow.AppID()); err != nil {
		return err
	}
	if b.Live.AppID() == b.Shadow.AppID() {
		return fmt.Errorf("%w: backfill: the shadow application id is the live one (%s)", ErrConfig, b.Live.AppID())
	}
	for s, l := range b.Outputs {
		if s == l {
			return fmt.Errorf("%w: backfill: shadow output %s is the live output", ErrConfig, s)
		}
	}
	return nil
}

// inputs are the topology's external source topics, sorted.
func inputTopics(topo *topology.Topology) []string {
	var inputs []string
	for _, s := range topo.Subtopologies() {
		for _, src := range s.Sources {
			if !src.Internal && !slices.Contains(inputs, src.Topic) {
				inputs = append(inputs, src.Topic)
			}
		}
	}
	slices.Sort(inputs)
	return inputs
}

// BackfillProgress is what a running backfill reports about once a
// second.
type BackfillProgress struct {
	// Records is how many input records the shadow group has committed
	// since the backfill started; Target how many there were to its
	// inputs' ends when it started.
	Records, Target int64
	// Rate is records a second over the last report; ETA the time left to
	// Target at that rate (0 when unknown or done).
	Rate float64
	ETA  time.Duration
	// Partitions is each input partition's committed offset, its end now
	// and the lag between them.
	Partitions []PartitionLag
	// CaughtUp is true from the first report at which the shadow group
	// had committed every input partition to its end as of the start;
	// the backfill goes on following its inputs until stopped.
	CaughtUp bool
	// JustCaughtUp is true in that first report only.
	JustCaughtUp bool
}

// PartitionLag is one input partition of a backfill.
type PartitionLag struct {
	Topic     string
	Partition int32
	Committed int64 // -1: nothing committed yet
	End       int64 // the last stable offset
	// Lag is End minus Committed, less a transaction marker at the very
	// end (a worker's position stops after the last record it reads).
	Lag int64
}

// Run runs the shadow topology as an ordinary worker (the opts are a
// worker's: brokers, state dir, commit interval...) until ctx ends,
// reporting progress about once a second. Before it starts it creates the
// shadow outputs like their live topics and, if the shadow group has
// committed nothing yet and from is not zero, sets its input offsets to
// the first record at or after from (zero: the earliest). Run again, it
// resumes where the shadow group committed. Several processes may run it
// at once: they share the work as one group.
func (b Backfill) Run(ctx context.Context, from time.Time, progress func(BackfillProgress), opts ...Opt) error {
	if err := b.check(); err != nil {
		return err
	}
	if progress == nil {
		progress = func(BackfillProgress) {}
	}
	adm, closeAdm, err := resetAdmin(opts)
	if err != nil {
		return err
	}
	defer closeAdm()
	kopts, err := ClientOpts(opts...)
	if err != nil {
		return err
	}
	if err := b.prepare(ctx, adm, kopts, from); err != nil {
		return err
	}
	app, err := New(b.Shadow, opts...)
	if err != nil {
		return err
	}
	// Where the shadow group starts, before it moves.
	w := newBackfillWatch(adm, kopts, b.Shadow.AppID(), inputTopics(b.Shadow))
	p0, err := w.poll(ctx)
	if err != nil {
		return fmt.Errorf("backfill: offsets of %s: %w", b.Shadow.AppID(), err)
	}
	progress(p0)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			// A report missed (the cluster busy, the worker stopping) is
			// no reason to stop the work.
			if p, err := w.poll(ctx); err == nil {
				progress(p)
			}
		}
	}
}

// prepare creates the shadow outputs and, when the shadow group has
// committed nothing, seeds its erased keys and sets its start offsets.
func (b Backfill) prepare(ctx context.Context, adm *kadm.Client, kopts []kgo.Opt, from time.Time) error {
	inputs := inputTopics(b.Shadow)
	if len(inputs) == 0 {
		return fmt.Errorf("%w: backfill: the topology of %s reads no topic", ErrConfig, b.Shadow.AppID())
	}
	if len(b.Outputs) > 0 {
		var lives []string
		for _, l := range b.Outputs {
			lives = append(lives, l)
		}
		td, err := adm.ListTopics(ctx, lives...)
		if err != nil {
			return fmt.Errorf("backfill: live outputs: %w", err)
		}
		for _, s := range sortedMapKeys(b.Outputs) {
			l := b.Outputs[s]
			d, ok := td[l]
			if !ok || d.Err != nil {
				return fmt.Errorf("backfill: live output %s: %w", l, ErrTopicMissing)
			}
			configs := map[string]*string{}
			if rc, err := adm.DescribeTopicConfigs(ctx, l); err == nil && len(rc) == 1 && rc[0].Err == nil {
				for _, c := range rc[0].Configs {
					if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
						configs[c.Key] = c.Value
					}
				}
			}
			resp, err := adm.CreateTopic(ctx, int32(len(d.Partitions)), -1, configs, s)
			if err == nil {
				err = resp.Err
			}
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("backfill: create shadow output %s: %w", s, err)
			}
		}
	}
	committed, err := adm.FetchOffsets(ctx, b.Shadow.AppID())
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("backfill: committed offsets of %s: %w", b.Shadow.AppID(), err)
	}
	if len(committed) > 0 {
		return nil // resumed
	}
	if err := checkGroupEmpty(ctx, adm, b.Shadow.AppID()); errors.Is(err, ErrGroupActive) {
		return nil // another backfill process started it already
	} else if err != nil {
		return fmt.Errorf("backfill: group %s: %w", b.Shadow.AppID(), err)
	}
	if err := b.seedErasedKeys(ctx, adm, kopts); err != nil {
		return err
	}
	var target kadm.ListedOffsets
	if from.IsZero() {
		target, err = adm.ListStartOffsets(ctx, inputs...)
	} else {
		target, err = adm.ListOffsetsAfterMilli(ctx, from.UnixMilli(), inputs...)
	}
	if err == nil {
		err = target.Error()
	}
	if err != nil {
		return fmt.Errorf("backfill: offsets of the inputs %v at %v: %w", inputs, from, err)
	}
	offsets := kadm.Offsets{}
	target.Each(func(o kadm.ListedOffset) { offsets.AddOffset(o.Topic, o.Partition, o.Offset, -1) })
	// Where it starts, for the promote to check; then, with from, the
	// shadow group's own start (without, it starts at the earliest).
	groups := []string{startGroup(b.Shadow.AppID())}
	if !from.IsZero() {
		groups = append(groups, b.Shadow.AppID())
	}
	for _, g := range groups {
		resp, err := adm.CommitOffsets(ctx, g, offsets)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("backfill: commit the start offsets of %s: %w", g, err)
		}
	}
	return nil
}

// seedErasedKeys copies the live application's erased keys
// (topology.ErasuresOf) into the shadow's changelog of them, so the
// backfill ignores an erased customer's records from the first one
// instead of publishing them again until it reaches the request.
func (b Backfill) seedErasedKeys(ctx context.Context, adm *kadm.Client, kopts []kgo.Opt) error {
	shadow := map[string]topology.StoreInfo{}
	for _, s := range b.Shadow.Stores() {
		shadow[s.Name] = s
	}
	for _, s := range b.Live.Stores() {
		sh, ok := shadow[s.Name]
		if !s.ErasedKeys || !ok {
			continue
		}
		td, err := adm.ListTopics(ctx, s.Changelog)
		if err != nil {
			return fmt.Errorf("backfill: erased keys %s: %w", s.Changelog, err)
		}
		d, ok := td[s.Changelog]
		if !ok || d.Err != nil {
			continue // the live workers erased no one yet
		}
		t := PromoteTopic{Live: sh.Changelog, Kind: topology.Changelog, Partitions: int32(len(d.Partitions))}
		if err := recreateTopic(ctx, adm, t); err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
		if _, err := copyRecords(ctx, kopts, b.Shadow.AppID()+"-seed-"+s.Name, s.Changelog, nil, sh.Changelog); err != nil {
			return fmt.Errorf("backfill: copy the erased keys %s to %s: %w", s.Changelog, sh.Changelog, err)
		}
	}
	return nil
}

func sortedMapKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// backfillWatch measures a backfill from its group's committed offsets.
type backfillWatch struct {
	adm       *kadm.Client
	kopts     []kgo.Opt
	markers   map[topicPart]markerAt // the last offset checked per partition
	group     string
	inputs    []string
	start     map[topicPart]int64 // first committed (or log start) seen
	target    map[topicPart]int64 // ends at the first poll
	last      int64
	lastAt    time.Time
	rate      float64
	caughtUp  bool
	startedAt time.Time
}

type topicPart struct {
	topic     string
	partition int32
}

func newBackfillWatch(adm *kadm.Client, kopts []kgo.Opt, group string, inputs []string) *backfillWatch {
	return &backfillWatch{adm: adm, kopts: kopts, group: group, inputs: inputs, markers: map[topicPart]markerAt{}}
}

// markerAt says whether the record at offset is a transaction marker.
type markerAt struct {
	offset int64
	marker bool
}

// behind is how many offsets of a partition the group has still to
// read, from its position at to the end: a worker's position stops after
// the last record it read, so a transaction marker at the very end
// (offset end-1) is not counted.
func (w *backfillWatch) behind(ctx context.Context, k topicPart, at, end int64) int64 {
	n := max(end-at, 0)
	if n != 1 {
		return n
	}
	m, ok := w.markers[k]
	if !ok || m.offset != at {
		m = markerAt{offset: at, marker: w.isMarker(ctx, k, at)}
		w.markers[k] = m
	}
	if m.marker {
		return 0
	}
	return n
}

// isMarker reads the record at offset, control records included; false
// if it cannot tell within a few seconds.
func (w *backfillWatch) isMarker(ctx context.Context, k topicPart, offset int64) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append(slices.Clone(w.kopts), kgo.KeepControlRecords(), kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{k.topic: {k.partition: kgo.NewOffset().At(offset)}}))...)
	if err != nil {
		return false
	}
	defer cl.Close()
	for ctx.Err() == nil {
		var found, marker bool
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if !found && r.Offset >= offset {
				found, marker = true, r.Offset == offset && r.Attrs.IsControl()
			}
		})
		if found {
			return marker
		}
	}
	return false
}

func (w *backfillWatch) poll(ctx context.Context) (BackfillProgress, error) {
	var p BackfillProgress
	ends, err := w.adm.ListCommittedOffsets(ctx, w.inputs...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return p, err
	}
	committed, err := w.adm.FetchOffsets(ctx, w.group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = nil, nil
	}
	if err != nil {
		return p, err
	}
	now := time.Now()
	if w.target == nil {
		starts, err := w.adm.ListStartOffsets(ctx, w.inputs...)
		if err == nil {
			err = starts.Error()
		}
		if err != nil {
			return p, err
		}
		w.start, w.target, w.startedAt = map[topicPart]int64{}, map[topicPart]int64{}, now
		ends.Each(func(o kadm.ListedOffset) {
			k := topicPart{o.Topic, o.Partition}
			w.target[k] = o.Offset
			w.start[k] = 0
			if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
				w.start[k] = s.Offset
			}
			if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.At >= 0 {
				w.start[k] = c.At
			}
		})
	}
	caught := true
	var left int64
	ends.Each(func(o kadm.ListedOffset) {
		k := topicPart{o.Topic, o.Partition}
		at := int64(-1)
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok {
			at = c.At
		}
		from := max(at, w.start[k])
		pl := PartitionLag{Topic: o.Topic, Partition: o.Partition, Committed: at, End: o.Offset, Lag: w.behind(ctx, k, from, o.Offset)}
		p.Partitions = append(p.Partitions, pl)
		p.Records += max(from-w.start[k], 0)
		if t, ok := w.target[k]; ok {
			p.Target += max(t-w.start[k], 0)
			left += max(t-from, 0)
			if w.behind(ctx, k, from, t) > 0 {
				caught = false
			}
		}
	})
	slices.SortFunc(p.Partitions, func(a, b PartitionLag) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	if !w.lastAt.IsZero() {
		if d := now.Sub(w.lastAt).Seconds(); d > 0 {
			r := float64(p.Records-w.last) / d
			if w.rate == 0 {
				w.rate = r
			} else {
				w.rate = 0.7*w.rate + 0.3*r
			}
		}
	}
	w.last, w.lastAt = p.Records, now
	p.Rate = w.rate
	if caught && !w.caughtUp {
		w.caughtUp, p.JustCaughtUp = true, true
	}
	p.CaughtUp = w.caughtUp
	if !p.CaughtUp && p.Rate > 0 {
		p.ETA = time.Duration(float64(left) / p.Rate * float64(time.Second))
	}
	return p, nil
}
