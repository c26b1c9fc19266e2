package processor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/topology"
)

// PromotePlan is every action a promote takes, computed without changing
// anything (weir backfill -promote -dry-run prints it).
type PromotePlan struct {
	LiveApp, ShadowApp string
	// Offsets move the live group's committed input offsets (From, -1
	// for none) to the shadow group's (To); a repartition topic's go to 0,
	// the start of its copy.
	Offsets []ResetOffset
	// Topics are the live internal topics replaced by copies of the
	// shadow's.
	Topics []PromoteTopic
	// Outputs are the shadow outputs and what happens to each.
	Outputs []PromoteOutput
	// StateDir is the live application's local state on this machine,
	// removed if it exists; "" for none.
	StateDir string

	backfill Backfill
}

// PromoteTopic is one internal topic replaced: Live deleted, created
// again with Partitions partitions and the records of Shadow copied in
// (a repartition topic's from the shadow group's offsets on).
type PromoteTopic struct {
	Shadow, Live string
	Kind         topology.InternalTopicKind
	Partitions   int32
	Records      int64 // about: offsets to copy, commit markers included
	from         map[int32]int64
}

// PromoteOutput is one shadow output. Carried: each key's latest record
// is written to Live unless Live's latest for that key has a greater
// version (or is the same record). Otherwise Live is left as it is.
type PromoteOutput struct {
	Shadow, Live string
	Carried      bool
}

// String lists the plan's actions, one per line.
func (p PromotePlan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "promote of backfill %s to application %s:\n", p.ShadowApp, p.LiveApp)
	for _, t := range p.Topics {
		fmt.Fprintf(&b, "  replace topic %s with a copy of %s (%d partitions, about %d records)\n", t.Live, t.Shadow, t.Partitions, t.Records)
	}
	for _, o := range p.Outputs {
		if o.Carried {
			fmt.Fprintf(&b, "  output %s: write each key's latest record of %s unless its version there is greater\n", o.Live, o.Shadow)
		} else {
			fmt.Fprintf(&b, "  output %s: left as it is (no version to compare; %s stays)\n", o.Live, o.Shadow)
		}
	}
	for _, o := range p.Offsets {
		from := "none"
		if o.From >= 0 {
			from = fmt.Sprint(o.From)
		}
		fmt.Fprintf(&b, "  offset %s/%d: %s -> %d\n", o.Topic, o.Partition, from, o.To)
	}
	if p.StateDir != "" {
		fmt.Fprintf(&b, "  remove local state %s\n", p.StateDir)
	}
	return b.String()
}

// PlanPromote works out how to make a stopped backfill's state and
// outputs the live application's. It changes nothing. It fails with
// ErrGroupActive while a live worker or the backfill runs, and with
// ErrBackfillBehind while the shadow group has read some input partition
// less far than the live group (stop the live workers first, and let the
// backfill catch up before stopping it).
func (b Backfill) PlanPromote(ctx context.Context, stateDir string, opts ...Opt) (PromotePlan, error) {
	plan := PromotePlan{backfill: b}
	if err := b.check(); err != nil {
		return plan, err
	}
	plan.LiveApp, plan.ShadowApp = b.Live.AppID(), b.Shadow.AppID()
	adm, closeAdm, err := resetAdmin(opts)
	if err != nil {
		return plan, err
	}
	defer closeAdm()
	for _, g := range []string{plan.LiveApp, plan.ShadowApp} {
		if err := checkGroupEmpty(ctx, adm, g); err != nil {
			return plan, err
		}
	}
	inputs := inputTopics(b.Live)
	if len(inputs) == 0 {
		return plan, fmt.Errorf("%w: promote: the topology of %s reads no topic", ErrConfig, plan.LiveApp)
	}
	starts, err := adm.ListStartOffsets(ctx, inputs...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return plan, fmt.Errorf("promote: offsets of the inputs %v: %w", inputs, err)
	}
	live, err := fetchCommitted(ctx, adm, plan.LiveApp)
	if err != nil {
		return plan, err
	}
	shadow, err := fetchCommitted(ctx, adm, plan.ShadowApp)
	if err != nil {
		return plan, err
	}
	if err := b.checkSameFlags(ctx, adm, live); err != nil {
		return plan, err
	}
	if err := b.checkStart(ctx, adm); err != nil {
		return plan, err
	}
	if len(shadow) == 0 {
		return plan, fmt.Errorf("promote: %w: %s has committed nothing; run weir backfill first", ErrBackfillBehind, plan.ShadowApp)
	}
	var behind []string
	starts.Each(func(o kadm.ListedOffset) {
		to := o.Offset // never read: from the start, as a new group would
		if c, ok := shadow.Lookup(o.Topic, o.Partition); ok && c.At >= 0 {
			to = c.At
		}
		from := int64(-1)
		if c, ok := live.Lookup(o.Topic, o.Partition); ok {
			from = c.At
		}
		if from > to {
			behind = append(behind, fmt.Sprintf("%s/%d at %d, live at %d", o.Topic, o.Partition, to, from))
		}
		plan.Offsets = append(plan.Offsets, ResetOffset{Topic: o.Topic, Partition: o.Partition, From: from, To: to})
	})
	if len(behind) > 0 {
		slices.Sort(behind)
		return plan, fmt.Errorf("promote: %w: %s; stop the live workers, run the backfill until it reports caught up, stop it and promote again",
			ErrBackfillBehind, strings.Join(behind, ", "))
	}

	// Internal topics pair up by name: <app>-<name>-changelog.
	shadowInternal := map[string]topology.InternalTopic{}
	for _, t := range b.Shadow.InternalTopics() {
		shadowInternal[strings.TrimPrefix(t.Name, plan.ShadowApp)] = t
	}
	var names []string
	for _, t := range b.Live.InternalTopics() {
		st, ok := shadowInternal[strings.TrimPrefix(t.Name, plan.LiveApp)]
		if !ok || st.Kind != t.Kind {
			return plan, fmt.Errorf("%w: promote: internal topic %s has no counterpart in %s: build both topologies from the same code", ErrConfig, t.Name, plan.ShadowApp)
		}
		plan.Topics = append(plan.Topics, PromoteTopic{Shadow: st.Name, Live: t.Name, Kind: t.Kind})
		names = append(names, st.Name)
	}
	if len(names) > 0 {
		details, err := adm.ListTopics(ctx, names...)
		if err != nil {
			return plan, fmt.Errorf("promote: internal topics: %w", err)
		}
		ends, err := adm.ListEndOffsets(ctx, names...)
		if err != nil {
			return plan, fmt.Errorf("promote: internal topics: %w", err)
		}
		tstarts, err := adm.ListStartOffsets(ctx, names...)
		if err != nil {
			return plan, fmt.Errorf("promote: internal topics: %w", err)
		}
		for i := range plan.Topics {
			t := &plan.Topics[i]
			d, ok := details[t.Shadow]
			if !ok || d.Err != nil {
				return plan, fmt.Errorf("promote: shadow topic %s: %w (has the backfill run?)", t.Shadow, ErrTopicMissing)
			}
			t.Partitions = int32(len(d.Partitions))
			t.from = map[int32]int64{}
			for p := range t.Partitions {
				from := int64(0)
				if s, ok := tstarts.Lookup(t.Shadow, p); ok {
					from = s.Offset
				}
				if t.Kind == topology.Repartition {
					if c, ok := shadow.Lookup(t.Shadow, p); ok && c.At > from {
						from = c.At
					}
					plan.Offsets = append(plan.Offsets, ResetOffset{Topic: t.Live, Partition: p, From: -1, To: 0})
					if c, ok := live.Lookup(t.Live, p); ok {
						plan.Offsets[len(plan.Offsets)-1].From = c.At
					}
				}
				t.from[p] = from
				if e, ok := ends.Lookup(t.Shadow, p); ok {
					t.Records += max(e.Offset-from, 0)
				}
			}
		}
	}
	slices.SortFunc(plan.Topics, func(a, b PromoteTopic) int { return strings.Compare(a.Live, b.Live) })
	slices.SortFunc(plan.Offsets, func(a, b ResetOffset) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})

	for _, s := range sortedMapKeys(b.Outputs) {
		l := b.Outputs[s]
		_, carried := b.Versions[l]
		plan.Outputs = append(plan.Outputs, PromoteOutput{Shadow: s, Live: l, Carried: carried})
		if !carried {
			continue
		}
		td, err := adm.ListTopics(ctx, s, l)
		if err != nil {
			return plan, fmt.Errorf("promote: outputs: %w", err)
		}
		ds, dl := td[s], td[l]
		if ds.Err != nil || dl.Err != nil || len(ds.Partitions) == 0 {
			return plan, fmt.Errorf("promote: output %s or %s: %w", s, l, ErrTopicMissing)
		}
		if len(ds.Partitions) != len(dl.Partitions) {
			return plan, fmt.Errorf("%w: promote: shadow output %s has %d partitions, %s %d", ErrTopics, s, len(ds.Partitions), l, len(dl.Partitions))
		}
	}

	if stateDir == "" {
		stateDir = defaultStateDir()
	}
	dir := filepath.Join(stateDir, plan.LiveApp)
	if _, err := os.Stat(dir); err == nil {
		plan.StateDir = dir
	}
	return plan, nil
}

// checkSameFlags refuses a backfill built without what the live workers
// ran with: an input they read (weir run -erasures), or an expiry index
// they kept (-inactive-ttl). Promoting it would drop what they applied:
// erased customers would come back.
func (b Backfill) checkSameFlags(ctx context.Context, adm *kadm.Client, live kadm.OffsetResponses) error {
	inputs, internal := inputTopics(b.Live), map[string]bool{}
	for _, t := range b.Live.InternalTopics() {
		internal[t.Name] = true
	}
	var extra []string
	live.Each(func(o kadm.OffsetResponse) {
		if !slices.Contains(inputs, o.Topic) && !internal[o.Topic] && !slices.Contains(extra, o.Topic) {
			extra = append(extra, o.Topic)
		}
	})
	if len(extra) > 0 {
		slices.Sort(extra)
		return fmt.Errorf("%w: promote: the live workers of %s read %s, which the backfill's topology does not: run weir backfill with the pipeline flags the workers had (-erasures reads the erasures topic)",
			ErrConfig, b.Live.AppID(), strings.Join(extra, ", "))
	}
	var indexes []string
	for _, s := range b.Live.Stores() {
		if s.Changelog != "" && s.TTL == 0 && s.ExpiryOf == "" {
			indexes = append(indexes, b.Live.AppID()+"-"+s.Name+"-ttl-changelog")
		}
	}
	if len(indexes) == 0 {
		return nil
	}
	found, err := adm.ListTopics(ctx, indexes...)
	if err != nil {
		return fmt.Errorf("promote: topics: %w", err)
	}
	for _, name := range indexes {
		if d, ok := found[name]; ok && d.Err == nil {
			return fmt.Errorf("%w: promote: %s exists: the live workers kept an expiry index the backfill's topology has not; run weir backfill with the pipeline flags the workers had (-inactive-ttl)", ErrConfig, name)
		}
	}
	return nil
}

// checkStart refuses, unless AllowPartial, a backfill that started after
// some input's first record: its state lacks the history before, and the
// live output would keep the old code's profiles while new updates carry
// versions that restart low.
func (b Backfill) checkStart(ctx context.Context, adm *kadm.Client) error {
	if b.AllowPartial {
		return nil
	}
	start, err := fetchCommitted(ctx, adm, startGroup(b.Shadow.AppID()))
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	var late []string
	start.Each(func(o kadm.OffsetResponse) {
		if o.At > 0 {
			late = append(late, fmt.Sprintf("%s/%d at %d", o.Topic, o.Partition, o.At))
		}
	})
	if len(late) == 0 {
		return nil
	}
	slices.Sort(late)
	return fmt.Errorf("promote: %w: it started at %s, not at offset 0 (weir backfill -from, or records deleted by retention): its state lacks what came before; pass -allow-partial to promote it all the same",
		ErrBackfillPartial, strings.Join(late, ", "))
}

func fetchCommitted(ctx context.Context, adm *kadm.Client, group string) (kadm.OffsetResponses, error) {
	committed, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return nil, nil
	}
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	return committed, nil
}

// Promote carries out plan, telling progress each step: with every live
// worker and the backfill stopped, it replaces the live internal topics
// with copies of the shadow's, carries each versioned output's latest
// records over, then moves the live group's offsets to the shadow's and
// removes the local live state, in that order. The live group's offsets
// move last: until Promote returns nil, do not start live workers; a
// promote cut short is finished by planning and running it again (the
// copies are made again; an output record already carried over is not
// written twice). Copies are written in transactions, read
// read_committed.
func Promote(ctx context.Context, plan PromotePlan, progress func(string), opts ...Opt) error {
	if progress == nil {
		progress = func(string) {}
	}
	b := plan.backfill
	if err := b.check(); err != nil {
		return err
	}
	if plan.StateDir != "" && filepath.Base(plan.StateDir) != plan.LiveApp {
		return fmt.Errorf("%w: promote: local state %s is not a directory named after the application %s", ErrConfig, plan.StateDir, plan.LiveApp)
	}
	kopts, err := ClientOpts(opts...)
	if err != nil {
		return err
	}
	adm, closeAdm, err := resetAdmin(opts)
	if err != nil {
		return err
	}
	defer closeAdm()
	for _, g := range []string{plan.LiveApp, plan.ShadowApp} {
		if err := checkGroupEmpty(ctx, adm, g); err != nil {
			return err
		}
	}
	txnID := "weir-promote-" + plan.LiveApp
	for i, t := range plan.Topics {
		if err := recreateTopic(ctx, adm, t); err != nil {
			return err
		}
		n, err := copyRecords(ctx, kopts, txnID, t.Shadow, t.from, t.Live)
		if err != nil {
			return fmt.Errorf("promote: copy %s to %s: %w", t.Shadow, t.Live, err)
		}
		progress(fmt.Sprintf("replaced %s with %d records of %s (%d/%d)", t.Live, n, t.Shadow, i+1, len(plan.Topics)))
	}
	for _, o := range plan.Outputs {
		if !o.Carried {
			continue
		}
		n, err := carryOutput(ctx, kopts, txnID, o, b.Versions[o.Live])
		if err != nil {
			return fmt.Errorf("promote: output %s: %w", o.Live, err)
		}
		progress(fmt.Sprintf("carried %d latest records of %s over to %s", n, o.Shadow, o.Live))
	}
	offsets := kadm.Offsets{}
	for _, o := range plan.Offsets {
		offsets.AddOffset(o.Topic, o.Partition, o.To, -1)
	}
	if err := checkGroupEmpty(ctx, adm, plan.LiveApp); err != nil {
		return err
	}
	resp, err := adm.CommitOffsets(ctx, plan.LiveApp, offsets)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("promote: commit the offsets of %s: %w", plan.LiveApp, err)
	}
	progress(fmt.Sprintf("committed %d offsets of %s", len(plan.Offsets), plan.LiveApp))
	if plan.StateDir != "" {
		if err := os.RemoveAll(plan.StateDir); err != nil {
			return fmt.Errorf("promote: remove local state: %w", err)
		}
		progress("removed local state " + plan.StateDir)
	}
	return nil
}

// recreateTopic deletes t.Live if it exists and creates it empty, like
// the shadow one, waiting out the broker's deletion.
func recreateTopic(ctx context.Context, adm *kadm.Client, t PromoteTopic) error {
	resp, err := adm.DeleteTopic(ctx, t.Live)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("promote: delete topic %s: %w", t.Live, err)
	}
	configs := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	if t.Kind == topology.Repartition {
		configs = map[string]*string{"cleanup.policy": kadm.StringPtr("delete"), "retention.ms": kadm.StringPtr("-1")}
	}
	backoff := 50 * time.Millisecond
	for {
		resp, err := adm.CreateTopic(ctx, t.Partitions, -1, configs, t.Live)
		if err == nil {
			err = resp.Err
		}
		if err == nil {
			break
		}
		// Deletion completes on the brokers a moment after it is
		// acknowledged.
		if !errors.Is(err, kerr.TopicAlreadyExists) && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("promote: create topic %s: %w", t.Live, err)
		}
		if err := sleepCtx(ctx, backoff); err != nil {
			return fmt.Errorf("promote: create topic %s: %w", t.Live, err)
		}
		backoff = min(2*backoff, time.Second)
	}
	// Wait until the new topic's partitions have leaders.
	for {
		md, err := adm.Metadata(ctx, t.Live)
		if err == nil {
			if d, ok := md.Topics[t.Live]; ok && d.Err == nil && int32(len(d.Partitions)) == t.Partitions {
				return nil
			}
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("promote: create topic %s: %w", t.Live, err)
		}
	}
}

// copyBatch is how many records one copy transaction carries.
const copyBatch = 10000

// copyRecords copies topic's committed records, from the offsets from
// to the last stable offsets, to the same partitions of dest, in
// transactions of copyBatch records. It returns how many it wrote.
func copyRecords(ctx context.Context, kopts []kgo.Opt, txnID, topic string, from map[int32]int64, dest string) (int64, error) {
	return copyRecordsFrom(ctx, kopts, txnID, func(yield func(*kgo.Record) error) error {
		return readFrom(ctx, kopts, topic, from, func(r *kgo.Record) error {
			return yield(&kgo.Record{Topic: dest, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp, Partition: r.Partition})
		})
	})
}

// readFrom is readToEnd from given offsets (nil: each partition's start).
func readFrom(ctx context.Context, kopts []kgo.Opt, topic string, from map[int32]int64, fn func(*kgo.Record) error) error {
	if from == nil {
		return readToEnd(ctx, kopts, []string{topic}, fn)
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("%w: kafka client: %v", ErrConfig, err)
	}
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	cl.Close()
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	assign := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if f := from[o.Partition]; o.Offset > f {
			assign[o.Partition] = kgo.NewOffset().At(f)
			left[o.Partition] = o.Offset
		}
	})
	if len(left) == 0 {
		return nil
	}
	cons, err := kgo.NewClient(append(slices.Clone(kopts), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return fmt.Errorf("%w: kafka client: %v", ErrConfig, err)
	}
	defer cons.Close()
	for len(left) > 0 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s (%d partitions left): %w", topic, len(left), err)
		}
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("reading %s: %w", topic, err)
		}
		var ferr error
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || ferr != nil {
				return
			}
			if r.Offset >= end-1 {
				delete(left, r.Partition)
			}
			if r.Offset < end && !r.Attrs.IsControl() {
				ferr = fn(r)
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// carryOutput writes, for each key of o.Shadow, its latest record to
// o.Live (same partition) unless o.Live's latest record of that key has a
// greater version or is the same record. Tombstones (an erased customer)
// count: a shadow's tombstone is carried unless the live key is already
// deleted, and after a live tombstone any shadow version is newer.
func carryOutput(ctx context.Context, kopts []kgo.Opt, txnID string, o PromoteOutput, version VersionFunc) (int64, error) {
	type last struct {
		version int64
		value   []byte
		deleted bool
	}
	live := map[string]last{}
	key := func(p int32, k []byte) string { return fmt.Sprintf("%d/%s", p, k) }
	if err := readToEnd(ctx, kopts, []string{o.Live}, func(r *kgo.Record) error {
		if r.Value == nil {
			live[key(r.Partition, r.Key)] = last{deleted: true}
			return nil
		}
		v, ok, err := version(r.Key, r.Value)
		if err != nil {
			return fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		if ok {
			live[key(r.Partition, r.Key)] = last{version: v, value: r.Value}
		}
		return nil
	}); err != nil {
		return 0, err
	}
	latest := map[string]*kgo.Record{}
	var order []string
	if err := readToEnd(ctx, kopts, []string{o.Shadow}, func(r *kgo.Record) error {
		k := key(r.Partition, r.Key)
		if _, ok := latest[k]; !ok {
			order = append(order, k)
		}
		latest[k] = r
		return nil
	}); err != nil {
		return 0, err
	}
	i := 0
	return copyRecordsFrom(ctx, kopts, txnID, func(yield func(*kgo.Record) error) error {
		for ; i < len(order); i++ {
			r := latest[order[i]]
			l, had := live[order[i]]
			if r.Value == nil {
				if had && !l.deleted {
					if err := yield(&kgo.Record{Topic: o.Live, Partition: r.Partition, Key: r.Key, Headers: r.Headers, Timestamp: r.Timestamp}); err != nil {
						return err
					}
				}
				continue
			}
			v, ok, err := version(r.Key, r.Value)
			if err != nil {
				return fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			if !ok {
				continue
			}
			if had && !l.deleted && (l.version > v || l.version == v && string(l.value) == string(r.Value)) {
				continue
			}
			if err := yield(&kgo.Record{Topic: o.Live, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}); err != nil {
				return err
			}
		}
		return nil
	})
}

// copyRecordsFrom writes the records each gives in transactions of
// copyBatch records, each to its own partition.
func copyRecordsFrom(ctx context.Context, kopts []kgo.Opt, txnID string, each func(yield func(*kgo.Record) error) error) (int64, error) {
	prod, err := kgo.NewClient(append(slices.Clone(kopts), kgo.TransactionalID(txnID), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(time.Minute))...)
	if err != nil {
		return 0, fmt.Errorf("%w: kafka client: %v", ErrConfig, err)
	}
	defer prod.Close()
	var n int64
	var out []*kgo.Record
	flush := func() error {
		if len(out) == 0 {
			return nil
		}
		if err := prod.BeginTransaction(); err != nil {
			return err
		}
		perr := prod.ProduceSync(ctx, out...).FirstErr()
		commit := kgo.TryCommit
		if perr != nil {
			commit = kgo.TryAbort
		}
		if err := prod.EndTransaction(ctx, commit); err != nil {
			return errors.Join(perr, err)
		}
		if perr != nil {
			return perr
		}
		n += int64(len(out))
		out = out[:0]
		return nil
	}
	err = each(func(r *kgo.Record) error {
		out = append(out, r)
		if len(out) >= copyBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return n, err
}
