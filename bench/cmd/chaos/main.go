// Command chaos runs Weir's fault suite (make chaos): a real 3-node Kafka,
// three `weir run -pipeline profiles` workers as separate processes with
// one standby replica per task, a seeded load at a steady rate, and a
// schedule of faults (kill -9 of a worker restarted on its state, one
// whose state directory is deleted, a broker kill -9 and restart, a
// worker killed for good and later replaced by an empty one, a schema
// registry outage with a worker restarted inside it, a worker frozen
// with SIGSTOP). Then an independent read_committed checker: no
// duplicate or conflicting profile versions, none going back, final
// versions and profiles as the input determines, every malformed record
// dead-lettered exactly once, every trigger id written once. It prints,
// per fault, how long the partitions that had work waited for their next
// commit (those of the worker hit, and the others') and how many records
// workers restored. Timings are reported, never asserted; a failed check
// exits 1.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/weirstream/weir/bench"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/profile"
)

type config struct {
	root, script, workBase string
	brokers                []string
	nodes, workers         int
	standbys               int
	events, rate, badEvery int
	partitions             int32
	seed                   uint64
	session                time.Duration
}

func main() {
	var c config
	var brokers string
	flag.StringVar(&brokers, "brokers", os.Getenv("KAFKA_BROKERS"), "bootstrap brokers of a running 3-node Kafka (never stopped; its brokers are not killed); empty: start one with scripts/kafka.sh")
	flag.IntVar(&c.nodes, "nodes", 3, "Kafka nodes to start (below 3: no broker fault)")
	flag.IntVar(&c.workers, "workers", 3, "weir workers")
	flag.IntVar(&c.standbys, "standbys", 1, "standby replicas per task (weir run -standbys)")
	flag.IntVar(&c.events, "events", 120000, "events produced")
	flag.IntVar(&c.rate, "rate", 1000, "events per second")
	flag.IntVar(&c.badEvery, "bad-every", 500, "every n-th event is malformed")
	var parts int
	flag.IntVar(&parts, "partitions", 12, "partitions of the input and output topics")
	flag.Uint64Var(&c.seed, "seed", 1, "generator seed")
	flag.DurationVar(&c.session, "session-timeout", 10*time.Second, "the workers' session timeout")
	flag.StringVar(&c.workBase, "work-dir", ".cache/chaos", "where each run keeps logs and state (relative to the module root)")
	flag.Parse()
	c.partitions = int32(parts)
	if brokers != "" {
		c.brokers = strings.Split(brokers, ",")
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	c.root, c.script = root, filepath.Join(root, "scripts", "kafka.sh")
	if !filepath.IsAbs(c.workBase) {
		c.workBase = filepath.Join(root, c.workBase)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
	}
	os.Exit(code)
}

func say(format string, args ...any) {
	fmt.Printf("chaos: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// fault is one entry of the schedule and what it cost.
type fault struct {
	name   string
	at     float64 // share of the load produced when it starts
	worker int     // the worker it hits; -1: none in particular
	do     func(context.Context, *suite) error
	began  time.Time
	owned  map[tp]bool // the hit worker's input partitions when it began
	// Until every partition with work committed again: the hit
	// worker's, and the others' (all, for a fault that hits no worker).
	own, others     time.Duration
	hasOwn, hasRest bool
	restored        int64
}

type suite struct {
	c        config
	work     string
	brokers  []string
	kafkaEnv []string
	weir     string
	regURL   string
	app      string
	topics   bench.Topics
	procs    bench.Group
	workers  []*bench.Process
	dirs     []string
	mon      *monitor
	adm      *kadm.Client
	registry *flakyRegistry
	lost     chan time.Time // when a worker was killed for good
	moves    map[string]time.Duration
}

func run(ctx context.Context, c config) (int, error) {
	runID := "chaos-" + time.Now().UTC().Format("20060102-150405")
	s := &suite{c: c, work: filepath.Join(c.workBase, runID), app: runID, lost: make(chan time.Time, 1)}
	var err error
	if err := os.MkdirAll(s.work, 0o755); err != nil {
		return 2, err
	}
	say("run %s, work dir %s", runID, s.work)
	s.kafkaEnv = append(os.Environ(), "WEIR_KAFKA_RUN="+filepath.Join(s.work, "kafka"))
	if len(c.brokers) > 0 {
		s.brokers = c.brokers
	} else {
		out, err := s.kafka(ctx, "start", "--brokers", strconv.Itoa(c.nodes), "--plaintext-only")
		defer s.kafka(context.Background(), "stop")
		if err != nil {
			return 2, err
		}
		s.brokers = strings.Split(lastLine(out), ",")
	}
	say("kafka at %s", strings.Join(s.brokers, ","))
	reg := srfake.New()
	defer reg.Close()
	if s.registry, err = newFlakyRegistry(reg.URL()); err != nil {
		return 2, err
	}
	defer s.registry.close()
	s.regURL = s.registry.url
	defer func() {
		for _, name := range s.procs.StopAll(10 * time.Second) {
			say("stopped %s", name)
		}
	}()

	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return 2, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	s.adm = adm
	rc, err := avro.NewHTTPRegistryClient(reg.URL())
	if err != nil {
		return 2, err
	}
	areg, err := avro.NewRegistry(rc)
	if err != nil {
		return 2, err
	}
	serdes, err := profile.AvroSerdes(areg, avro.AutoRegister())
	if err != nil {
		return 2, err
	}
	s.weir = filepath.Join(s.work, "weir")
	build := exec.CommandContext(ctx, "go", "build", "-o", s.weir, "./cmd/weir")
	build.Dir, build.Stderr = c.root, os.Stderr
	if err := build.Run(); err != nil {
		return 2, fmt.Errorf("build weir: %w", err)
	}

	s.topics = bench.NewTopics(runID)
	if err := bench.CreateTopics(ctx, adm, s.topics, c.partitions, false); err != nil {
		return 2, err
	}
	say("generating %d events (seed %d)", c.events, c.seed)
	recs := profile.Generate(c.seed, c.events, profile.GenOptions{Customers: max(c.events/100, 200)})
	wl, err := bench.Build(recs, s.topics, func(r profile.Record) ([]byte, []byte, error) { return r.Encode(serdes) }, c.seed, c.badEvery)
	if err != nil {
		return 2, err
	}
	rows := 0 // table rows come first, before the workers start
	for rows < len(wl.Records) && !isEvent(s.topics, wl.Records[rows].Topic) {
		rows++
	}
	if err := bench.Produce(ctx, cl, wl.Records[:rows]); err != nil {
		return 2, err
	}
	for i := range c.workers {
		s.dirs = append(s.dirs, filepath.Join(s.work, fmt.Sprintf("state-%d", i)))
		p, err := s.startWorker(i)
		if err != nil {
			return 2, err
		}
		s.workers = append(s.workers, p)
	}
	s.mon = newMonitor(adm, s.app, s.topics.Inputs())
	mctx, stopMon := context.WithCancel(ctx)
	defer stopMon()
	go s.mon.run(mctx)

	// Spaced so that each fault's stall is over before the next begins
	// (with the default load, 1% of it is 1.2 s), and the first comes
	// after the workers' start-up.
	faults := []*fault{
		{name: "kill -9 worker 0, restart on its state", at: 0.12, worker: 0, do: func(ctx context.Context, s *suite) error { return s.restartWorker(0, false) }},
		{name: "kill -9 worker 1, state directory deleted", at: 0.24, worker: 1, do: func(ctx context.Context, s *suite) error { return s.restartWorker(1, true) }},
		{name: "kill -9 broker 2, restart after 10 s", at: 0.36, worker: -1, do: func(ctx context.Context, s *suite) error { return s.bounceBroker(ctx) }},
		{name: "kill -9 worker 0 for good", at: 0.50, worker: 0, do: func(ctx context.Context, s *suite) error { return s.lose(0) }},
		{name: "worker 0 replaced by an empty one", at: 0.62, worker: 0, do: func(ctx context.Context, s *suite) error { return s.replaceWorker(ctx, 0) }},
		{name: "registry down 20 s, worker 2 restarted inside it", at: 0.72, worker: 2, do: func(ctx context.Context, s *suite) error { return s.registryOutage(ctx, 2, 20*time.Second) }},
		{name: "SIGSTOP worker 1 for 15 s", at: 0.92, worker: 1, do: func(ctx context.Context, s *suite) error { return s.freeze(ctx, 1, 15*time.Second) }},
	}
	if len(c.brokers) > 0 || c.nodes < 3 {
		// Not our cluster to kill, or one that would not survive it.
		faults = without(faults, func(f *fault) bool { return strings.Contains(f.name, "broker") })
	}
	events := wl.Records[rows:]
	say("producing %d records at %d/s with %d faults", len(events), c.rate, len(faults))
	if err := s.produce(ctx, cl, events, faults); err != nil {
		return 1, err
	}
	say("load produced; waiting for the workers to drain")
	dctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	_, err = bench.WaitDrained(dctx, adm, s.app, s.topics.Inputs(), 200*time.Millisecond, nil, nil)
	cancel()
	if err != nil {
		return 1, fmt.Errorf("drain: %w", err)
	}
	stopMon()
	if err := s.mon.save(filepath.Join(s.work, "progress.json")); err != nil {
		say("save progress: %v", err)
	}
	for i, p := range s.workers {
		if err := p.Stop(15 * time.Second); err != nil {
			say("worker %d: %v", i, err)
		}
	}
	s.account(faults)
	failures := s.check(ctx, areg, wl)
	s.summary(faults, failures, s.stateSize(ctx))
	if len(failures) > 0 {
		return 1, fmt.Errorf("%d checks failed", len(failures))
	}
	return 0, nil
}

// without returns fs less the faults drop picks.
func without(fs []*fault, drop func(*fault) bool) []*fault {
	var out []*fault
	for _, f := range fs {
		if !drop(f) {
			out = append(out, f)
		}
	}
	return out
}

func isEvent(t bench.Topics, topic string) bool {
	return topic == t.Views || topic == t.Purchases || topic == t.Tickets
}

// produce writes recs at the configured rate, starting each fault when
// its share of the load has been produced.
func (s *suite) produce(ctx context.Context, cl *kgo.Client, recs []*kgo.Record, faults []*fault) error {
	var f bench.Failures
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	per := max(s.c.rate/100, 1)
	next := 0
	errc := make(chan error, len(faults))
	running := 0
	for i := 0; i < len(recs); {
		for next < len(faults) && float64(i) >= faults[next].at*float64(len(recs)) {
			ft := faults[next]
			ft.owned = s.owned(ctx, ft.worker)
			ft.began = time.Now()
			say("fault: %s (its partitions: %d)", ft.name, len(ft.owned))
			running++
			go func() { errc <- ft.do(ctx, s) }()
			next++
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			running--
			if err != nil {
				return err
			}
			continue
		case <-tick.C:
		}
		for end := min(i+per, len(recs)); i < end; i++ {
			cl.Produce(ctx, recs[i], f.Promise)
		}
	}
	for ; running > 0; running-- {
		if err := <-errc; err != nil {
			return err
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return f.Err()
}

func (s *suite) startWorker(i int) (*bench.Process, error) {
	argv := []string{s.weir, "run", "-pipeline", "profiles", "-brokers", strings.Join(s.brokers, ","),
		"-registry", s.regURL, "-auto-register", "-app", s.app, "-topic-prefix", s.topics.Prefix + ".",
		"-state-dir", s.dirs[i], "-instance", s.instance(i), "-static", "-standbys", strconv.Itoa(s.c.standbys),
		"-session-timeout", s.c.session.String(), "-commit-interval", "100ms"}
	return s.procs.Start(fmt.Sprintf("worker-%d", i), argv, s.c.root, filepath.Join(s.work, fmt.Sprintf("worker-%d.log", i)))
}

func (s *suite) restartWorker(i int, wipe bool) error {
	s.workers[i].Kill9()
	if wipe {
		if err := os.RemoveAll(s.dirs[i]); err != nil {
			return err
		}
	}
	p, err := s.startWorker(i)
	if err != nil {
		return err
	}
	s.workers[i] = p
	return nil
}

func (s *suite) instance(i int) string { return fmt.Sprintf("%s-w%d", s.app, i) }

// owned returns worker i's input partitions as the group describes them.
func (s *suite) owned(ctx context.Context, i int) map[tp]bool {
	out := map[tp]bool{}
	if i < 0 {
		return out
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	gs, err := s.adm.DescribeGroups(dctx, s.app)
	if err != nil {
		say("describe group: %v", err)
		return out
	}
	g := gs[s.app]
	for _, m := range g.Members {
		if m.InstanceID == nil || *m.InstanceID != s.instance(i) {
			continue
		}
		if a, ok := m.Assigned.AsConsumer(); ok {
			out = partitionsOf(a)
		}
	}
	return out
}

func partitionsOf(a *kmsg.ConsumerMemberAssignment) map[tp]bool {
	out := map[tp]bool{}
	for _, t := range a.Topics {
		for _, p := range t.Partitions {
			out[tp{t.Topic, p}] = true
		}
	}
	return out
}

// lose kills worker i for good.
func (s *suite) lose(i int) error {
	s.workers[i].Kill9()
	s.lost <- time.Now()
	return nil
}

// replaceWorker starts worker i again on an empty state directory once
// the group has given up on it (its session timed out): a new worker
// joining, as when scaling out, not a restart.
func (s *suite) replaceWorker(ctx context.Context, i int) error {
	var at time.Time
	select {
	case <-ctx.Done():
		return ctx.Err()
	case at = <-s.lost:
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(at.Add(s.c.session + 2*time.Second))):
	}
	return s.restartWorker(i, true) // its kill -9 finds it dead already
}

// registryOutage takes the registry away for d and restarts worker i
// (kill -9) inside it, so that it starts with no schema cached.
func (s *suite) registryOutage(ctx context.Context, i int, d time.Duration) error {
	s.registry.down.Store(true)
	defer s.registry.down.Store(false)
	if err := s.restartWorker(i, false); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
	}
	return nil
}

func (s *suite) freeze(ctx context.Context, i int, d time.Duration) error {
	pid := s.workers[i].Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	return syscall.Kill(pid, syscall.SIGCONT)
}

// bounceBroker kills broker 2 and restarts it 10 s later, timing the
// cluster's own recovery meanwhile (leaderMoves): how long the
// partitions it led, and the group and transaction coordinators it
// hosted, took to move to a live broker.
func (s *suite) bounceBroker(ctx context.Context) error {
	const node = 2
	topics, err := s.appTopics(ctx)
	if err != nil {
		return err
	}
	txnIDs := make([]string, s.c.workers)
	for i := range txnIDs {
		txnIDs[i] = s.app + "-" + s.instance(i)
	}
	before := s.placement(ctx, topics, txnIDs)
	killed := time.Now()
	if _, err := s.kafka(ctx, "kill", strconv.Itoa(node)); err != nil {
		return err
	}
	moves := make(chan map[string]time.Duration, 1)
	go func() { moves <- s.waitMoved(ctx, node, before, topics, txnIDs, killed) }()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(killed.Add(10 * time.Second))):
	}
	if _, err := s.kafka(ctx, "restart", strconv.Itoa(node)); err != nil {
		return err
	}
	s.moves = <-moves
	return nil
}

// appTopics lists the run's topics: inputs, outputs and internal ones.
func (s *suite) appTopics(ctx context.Context) ([]string, error) {
	ts, err := s.adm.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range ts.Names() {
		if strings.HasPrefix(t, s.app) {
			out = append(out, t)
		}
	}
	return out, nil
}

// placement maps what a broker can host to the broker hosting it now:
// "leaders" entries per partition, "group" for the group coordinator,
// "txn <id>" per transactional id. -1: unknown or none.
func (s *suite) placement(ctx context.Context, topics, txnIDs []string) map[string]int32 {
	out := map[string]int32{}
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if md, err := s.adm.Metadata(qctx, topics...); err == nil {
		for _, t := range md.Topics {
			for _, p := range t.Partitions {
				out[fmt.Sprintf("leader %s/%d", t.Topic, p.Partition)] = p.Leader
			}
		}
	}
	if gc := s.adm.FindGroupCoordinators(qctx, s.app); gc.Ok() {
		for _, c := range gc {
			out["group"] = c.NodeID
		}
	} else {
		out["group"] = -1
	}
	tc := s.adm.FindTxnCoordinators(qctx, txnIDs...)
	for _, id := range txnIDs {
		out["txn "+id] = -1
		if c, ok := tc[id]; ok && c.Err == nil {
			out["txn "+id] = c.NodeID
		}
	}
	return out
}

// waitMoved polls until nothing that broker node hosted before is still
// placed on it (or unknown), and returns how long after killed the
// partition leaders, the group coordinator and the transaction
// coordinators were all elsewhere.
func (s *suite) waitMoved(ctx context.Context, node int32, before map[string]int32, topics, txnIDs []string, killed time.Time) map[string]time.Duration {
	kind := func(key string) string { return strings.Fields(key)[0] }
	pending := map[string]bool{}
	for k, n := range before {
		if n == node {
			pending[k] = true
		}
	}
	moved := map[string]time.Duration{}
	for len(pending) > 0 && time.Since(killed) < time.Minute {
		now := s.placement(ctx, topics, txnIDs)
		for k := range pending {
			if n := now[k]; n >= 0 && n != node {
				delete(pending, k)
				moved[kind(k)] = max(moved[kind(k)], time.Since(killed))
			}
		}
		select {
		case <-ctx.Done():
			return moved
		case <-time.After(100 * time.Millisecond):
		}
	}
	for k := range pending {
		moved[kind(k)] = -1 // never, within a minute
	}
	return moved
}

func (s *suite) kafka(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.c.script, args...)
	cmd.Dir, cmd.Env, cmd.Stderr = s.c.root, s.kafkaEnv, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w", s.c.script, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// account fills each fault's stall (from the monitor) and restored
// records (from the workers' logs), up to the next fault.
func (s *suite) account(faults []*fault) {
	restores := s.restores()
	for i, f := range faults {
		end := time.Now()
		if i+1 < len(faults) {
			end = faults[i+1].began
		}
		f.own, f.hasOwn = s.mon.stall(f.began, func(p tp) bool { return f.owned[p] })
		f.others, f.hasRest = s.mon.stall(f.began, func(p tp) bool { return !f.owned[p] })
		for _, r := range restores {
			if !r.at.Before(f.began) && r.at.Before(end) {
				f.restored += r.records
			}
		}
	}
}

type restore struct {
	at      time.Time
	records int64
}

var restoreLine = regexp.MustCompile(`^(\S+)\s.*restore rate.*"records": (\d+)`)

// restores reads every "restore rate" line of the workers' logs.
func (s *suite) restores() []restore {
	var out []restore
	logs, _ := filepath.Glob(filepath.Join(s.work, "worker-*.log"))
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			m := restoreLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, m[1])
			n, _ := strconv.ParseInt(m[2], 10, 64)
			if err == nil {
				out = append(out, restore{at, n})
			}
		}
	}
	return out
}

// check reads the outputs with read_committed and returns what is wrong.
func (s *suite) check(ctx context.Context, reg *avro.Registry, wl *bench.Workload) []string {
	var bad []string
	failf := func(format string, args ...any) {
		bad = append(bad, fmt.Sprintf(format, args...))
		say("FAIL: "+format, args...)
	}
	dec, err := bench.WeirDecoder(reg)
	if err != nil {
		return []string{err.Error()}
	}
	seen := map[string]map[int64]string{} // customer -> version -> fields
	last := map[string]bench.Profile{}
	dups, conflicts, regress := 0, 0, 0
	n, err := bench.ReadCommitted(ctx, s.brokers, s.topics.Updates, 3*time.Second, func(r *kgo.Record) error {
		p, err := dec(r.Topic, r.Value)
		if err != nil {
			return err
		}
		c := string(r.Key)
		fields := fmt.Sprint(bench.ProfileFields(p))
		if seen[c] == nil {
			seen[c] = map[int64]string{}
		}
		switch prev, ok := seen[c][p.Version]; {
		case ok && prev == fields:
			dups++
		case ok:
			conflicts++
		}
		if l, ok := last[c]; ok && p.Version < l.Version {
			regress++
		}
		seen[c][p.Version] = fields
		if l, ok := last[c]; !ok || p.Version >= l.Version {
			last[c] = p
		}
		return nil
	})
	if err != nil {
		failf("read profile updates: %v", err)
	}
	say("%d profile updates of %d customers", n, len(last))
	if dups > 0 || conflicts > 0 || regress > 0 {
		failf("profile updates: %d duplicate, %d conflicting, %d going back", dups, conflicts, regress)
	}
	if ms := bench.CheckModel(last, wl.Expect); len(ms) > 0 {
		failf("%d final profiles differ from the input (e.g. %v)", len(ms), ms[:min(3, len(ms))])
	}
	dlq := 0
	if _, err := bench.ReadCommitted(ctx, s.brokers, s.app+"-dlq", 3*time.Second, func(*kgo.Record) error { dlq++; return nil }); err != nil {
		failf("read dead letters: %v", err)
	}
	if dlq != wl.Malformed {
		failf("%d dead letters, want the %d malformed records", dlq, wl.Malformed)
	}
	tdec, err := bench.WeirTriggerDecoder(reg)
	if err != nil {
		return append(bad, err.Error())
	}
	ids := map[string]int{}
	if _, err := bench.ReadCommitted(ctx, s.brokers, s.topics.Triggers, 3*time.Second, func(r *kgo.Record) error {
		t, err := tdec(r.Topic, r.Value)
		if err == nil {
			ids[t.TriggerID]++
		}
		return err
	}); err != nil {
		failf("read triggers: %v", err)
	}
	twice := 0
	for _, k := range ids {
		if k > 1 {
			twice++
		}
	}
	if twice > 0 {
		failf("%d trigger ids written more than once (of %d)", twice, len(ids))
	}
	say("%d dead letters, %d triggers", dlq, len(ids))
	return bad
}

func (s *suite) summary(faults []*fault, failures []string, state int64) {
	fmt.Println()
	fmt.Printf("Partitions with work committed again after (s): those of the worker hit, and the others'.\n")
	fmt.Printf("State: %d changelog records in all.\n\n", state)
	fmt.Printf("| fault | at | its partitions | others' | records restored | of the state |\n|---|---:|---:|---:|---:|---:|\n")
	secs := func(d time.Duration, ok bool) string {
		if !ok {
			return "-"
		}
		return fmt.Sprintf("%.1f", d.Seconds())
	}
	for _, f := range faults {
		share := 0.0
		if state > 0 {
			share = 100 * float64(f.restored) / float64(state)
		}
		fmt.Printf("| %s | %.0f%% of the load | %s | %s | %d | %.2f%% |\n", f.name, 100*f.at,
			secs(f.own, f.hasOwn), secs(f.others, f.hasRest), f.restored, share)
	}
	if len(s.moves) > 0 {
		fmt.Printf("\nThe cluster's own recovery from the broker kill, for comparison:")
		for _, k := range []string{"leader", "group", "txn"} {
			if d, ok := s.moves[k]; ok {
				what := map[string]string{"leader": "partition leaders it held", "group": "the group coordinator", "txn": "the transaction coordinators it hosted"}[k]
				if d < 0 {
					fmt.Printf(" %s never moved;", what)
				} else {
					fmt.Printf(" %s moved after %.1f s;", what, d.Seconds())
				}
			}
		}
		fmt.Println()
	}
	gaps := s.mon.gaps()
	fmt.Printf("\nGap between commits of a partition with work: p50 %.1f s, p99 %.1f s, max %.1f s (%d gaps)\n",
		pct(gaps, 0.5), pct(gaps, 0.99), pct(gaps, 1), len(gaps))
	if len(failures) == 0 {
		fmt.Println("Checks: no duplicate, conflicting or regressing versions; final profiles as the input determines; dead letters exact; trigger ids unique.")
	} else {
		fmt.Printf("Checks FAILED:\n- %s\n", strings.Join(failures, "\n- "))
	}
}

// stateSize is the number of offsets in the application's changelogs:
// what restoring everything from scratch would read.
func (s *suite) stateSize(ctx context.Context) int64 {
	ts, err := s.adm.ListTopics(ctx)
	if err != nil {
		say("list topics: %v", err)
		return 0
	}
	var logs []string
	for _, t := range ts.Names() {
		if strings.HasPrefix(t, s.app+"-") && strings.HasSuffix(t, "-changelog") {
			logs = append(logs, t)
		}
	}
	ends, err := s.adm.ListEndOffsets(ctx, logs...)
	if err != nil {
		say("changelog ends: %v", err)
		return 0
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

func pct(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[min(int(q*float64(len(ds))), len(ds)-1)].Seconds()
}

func lastLine(s string) string {
	var last string
	for _, l := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(l); t != "" {
			last = t
		}
	}
	return last
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
