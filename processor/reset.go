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

// ErrGroupActive: the application's consumer group has members, so its
// offsets and internal topics are in use. Stop every worker first.
var ErrGroupActive = errors.New("the application's consumer group has active members")

// ResetTo says where a reset moves the input offsets: to the first
// record at or after Time, or, with Time zero, to the earliest record.
type ResetTo struct {
	Time time.Time
}

// ResetPlan is every action a reset takes, computed without changing
// anything, so it can be printed first (weir reset -dry-run).
type ResetPlan struct {
	AppID string
	// Offsets are the input partitions' committed offsets now and after.
	Offsets []ResetOffset
	// Topics are the internal topics (changelogs, repartition topics)
	// that exist and will be deleted.
	Topics []string
	// StateDir is the application's local state on this machine (the
	// worker's StateDir plus the application id), removed if it exists;
	// "" for none.
	StateDir string
	// Kept are what a reset leaves on purpose: the erasure requests'
	// offsets and the erased keys' changelog (topology.ErasuresOf), so
	// the rerun ignores erased customers' records from its first one.
	Kept []string
}

// ResetOffset is one input partition's move.
type ResetOffset struct {
	Topic     string
	Partition int32
	From      int64 // committed now; -1 for none
	To        int64
}

// String lists the plan's actions, one per line.
func (p ResetPlan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "reset of application %s:\n", p.AppID)
	for _, o := range p.Offsets {
		from := "none"
		if o.From >= 0 {
			from = fmt.Sprint(o.From)
		}
		fmt.Fprintf(&b, "  offset %s/%d: %s -> %d\n", o.Topic, o.Partition, from, o.To)
	}
	for _, t := range p.Topics {
		fmt.Fprintf(&b, "  delete topic %s\n", t)
	}
	if p.StateDir != "" {
		fmt.Fprintf(&b, "  remove local state %s\n", p.StateDir)
	}
	for _, k := range p.Kept {
		fmt.Fprintf(&b, "  keep %s\n", k)
	}
	return b.String()
}

// PlanReset works out how to reset the application topo describes, like
// Kafka Streams' application reset tool: its input offsets moved as to
// says, its internal topics deleted, its local state under stateDir
// (the workers' StateDir; "" for the default) removed. It changes
// nothing. It fails with ErrGroupActive while a worker runs.
func PlanReset(ctx context.Context, topo *topology.Topology, to ResetTo, stateDir string, opts ...Opt) (ResetPlan, error) {
	plan := ResetPlan{AppID: topo.AppID()}
	if err := checkAppID(plan.AppID); err != nil {
		return plan, err
	}
	adm, closeAdm, err := resetAdmin(opts)
	if err != nil {
		return plan, err
	}
	defer closeAdm()
	if err := checkGroupEmpty(ctx, adm, plan.AppID); err != nil {
		return plan, err
	}
	var inputs []string
	for _, s := range topo.Subtopologies() {
		for _, src := range s.Sources {
			if src.Erasures {
				plan.Kept = append(plan.Kept, "the offsets of "+src.Topic+" (erasure requests already applied)")
				continue
			}
			if !src.Internal && !slices.Contains(inputs, src.Topic) {
				inputs = append(inputs, src.Topic)
			}
		}
	}
	erasedKeys := map[string]bool{}
	for _, st := range topo.Stores() {
		if st.ErasedKeys {
			erasedKeys[st.Changelog] = true
			plan.Kept = append(plan.Kept, "topic "+st.Changelog+" (the erased keys: the rerun ignores their records)")
		}
	}
	slices.Sort(inputs)
	if len(inputs) == 0 { // listing no topics would list them all
		return plan, fmt.Errorf("%w: reset: the topology of %s reads no topic", ErrConfig, plan.AppID)
	}
	var target kadm.ListedOffsets
	if to.Time.IsZero() {
		target, err = adm.ListStartOffsets(ctx, inputs...)
	} else {
		target, err = adm.ListOffsetsAfterMilli(ctx, to.Time.UnixMilli(), inputs...)
	}
	if err == nil {
		err = target.Error()
	}
	if err != nil {
		return plan, fmt.Errorf("reset: offsets of the inputs %v: %w (do they exist? check -pipeline and -topic-prefix)", inputs, err)
	}
	committed, err := adm.FetchOffsets(ctx, plan.AppID)
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = nil, nil // never committed
	}
	if err != nil {
		return plan, fmt.Errorf("reset: committed offsets of %s: %w", plan.AppID, err)
	}
	target.Each(func(o kadm.ListedOffset) {
		from := int64(-1)
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok {
			from = c.At
		}
		plan.Offsets = append(plan.Offsets, ResetOffset{Topic: o.Topic, Partition: o.Partition, From: from, To: o.Offset})
	})
	slices.SortFunc(plan.Offsets, func(a, b ResetOffset) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	var internal []string
	for _, t := range topo.InternalTopics() {
		if !erasedKeys[t.Name] {
			internal = append(internal, t.Name)
		}
	}
	if len(internal) > 0 {
		details, err := adm.ListTopics(ctx, internal...)
		if err != nil {
			return plan, fmt.Errorf("reset: internal topics: %w", err)
		}
		for _, name := range internal {
			if d, ok := details[name]; ok && d.Err == nil {
				plan.Topics = append(plan.Topics, name)
			}
		}
		slices.Sort(plan.Topics)
	}
	if stateDir == "" {
		stateDir = defaultStateDir()
	}
	dir := filepath.Join(stateDir, plan.AppID)
	if _, err := os.Stat(dir); err == nil {
		plan.StateDir = dir
	}
	return plan, nil
}

// Reset carries out plan, telling progress each step. It checks again
// that no worker runs, then commits the offsets, deletes the topics and
// removes the local state, in that order: a reset cut short is finished
// by planning and running it again.
func Reset(ctx context.Context, plan ResetPlan, progress func(string), opts ...Opt) error {
	if progress == nil {
		progress = func(string) {}
	}
	adm, closeAdm, err := resetAdmin(opts)
	if err != nil {
		return err
	}
	defer closeAdm()
	if err := checkAppID(plan.AppID); err != nil {
		return err
	}
	if plan.StateDir != "" && filepath.Base(plan.StateDir) != plan.AppID {
		return fmt.Errorf("%w: reset: local state %s is not a directory named after the application %s", ErrConfig, plan.StateDir, plan.AppID)
	}
	if err := checkGroupEmpty(ctx, adm, plan.AppID); err != nil {
		return err
	}
	offsets := kadm.Offsets{}
	for _, o := range plan.Offsets {
		offsets.AddOffset(o.Topic, o.Partition, o.To, -1)
	}
	if len(offsets) > 0 {
		resp, err := adm.CommitOffsets(ctx, plan.AppID, offsets)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("reset: commit the input offsets of %s: %w", plan.AppID, err)
		}
		progress(fmt.Sprintf("committed %d input offsets", len(plan.Offsets)))
	}
	for i, t := range plan.Topics {
		resp, err := adm.DeleteTopic(ctx, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("reset: delete topic %s: %w", t, err)
		}
		progress(fmt.Sprintf("deleted topic %s (%d/%d)", t, i+1, len(plan.Topics)))
	}
	if plan.StateDir != "" {
		if err := os.RemoveAll(plan.StateDir); err != nil {
			return fmt.Errorf("reset: remove local state: %w", err)
		}
		progress("removed local state " + plan.StateDir)
	}
	return nil
}

func resetAdmin(opts []Opt) (*kadm.Client, func(), error) {
	kopts, err := ClientOpts(opts...)
	if err != nil {
		return nil, nil, err
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: kafka client: %v", ErrConfig, err)
	}
	return kadm.NewClient(cl), cl.Close, nil
}

// checkAppID refuses an application id that is not a single name made
// of the characters Kafka allows in topic names (its internal topics
// start with it), so the state directory it names stays inside the state
// directory: "..", "." and paths are refused.
func checkAppID(id string) error {
	ok := id != "" && id != "." && id != ".."
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("%w: reset: application id %q: use letters, digits, '.', '_' and '-' (not \".\" or \"..\")", ErrConfig, id)
	}
	return nil
}

// checkGroupEmpty fails with ErrGroupActive, naming the members, while
// the group has any, under the classic protocol or KIP-848's.
func checkGroupEmpty(ctx context.Context, adm *kadm.Client, group string) error {
	if err := checkConsumerGroupEmpty(ctx, adm, group); err != nil {
		return err
	}
	groups, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("reset: describe group %s: %w", group, err)
	}
	g, ok := groups[group]
	if !ok {
		return nil
	}
	if errors.Is(g.Err, kerr.GroupIDNotFound) {
		return nil // never joined, or expired: nothing uses it
	}
	if g.Err != nil {
		return fmt.Errorf("reset: describe group %s: %w", group, g.Err)
	}
	if len(g.Members) == 0 {
		return nil
	}
	var who []string
	for _, m := range g.Members {
		who = append(who, m.ClientID+"@"+m.ClientHost)
	}
	slices.Sort(who)
	return fmt.Errorf("reset: group %s (state %s): %w: %s; stop every worker (and wait for its session to end) and run it again",
		group, g.State, ErrGroupActive, strings.Join(who, ", "))
}

// checkConsumerGroupEmpty is checkGroupEmpty for KIP-848 groups
// (ServerSideAssignment), which the classic describe does not show. A
// broker without the new protocol answers with an error: nothing to see.
func checkConsumerGroupEmpty(ctx context.Context, adm *kadm.Client, group string) error {
	groups, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil {
		return nil
	}
	g, ok := groups[group]
	if !ok || g.Err != nil || len(g.Members) == 0 {
		return nil
	}
	var who []string
	for _, m := range g.Members {
		who = append(who, m.ClientID+"@"+m.ClientHost)
	}
	slices.Sort(who)
	return fmt.Errorf("reset: group %s (state %s): %w: %s; stop every worker (and wait for its session to end) and run it again",
		group, g.State, ErrGroupActive, strings.Join(who, ", "))
}
