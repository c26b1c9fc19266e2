// Command bench runs Weir's benchmark against Kafka Streams (make bench):
// see package bench and bench/README.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/weirstream/weir/bench"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/profile"
)

func main() {
	cfg, err := loadConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		say("interrupted: stopping the processes and the Kafka this run started (interrupt again to quit at once)")
		stop() // a second signal kills the bench; its children get SIGTERM (Pdeathsig)
	}()
	code, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// stopGrace is how long a stopped process has between SIGTERM and
// SIGKILL.
const stopGrace = time.Minute

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// system is one system under test.
type system struct {
	res      *bench.SystemResult
	app      string // application id = consumer group
	stateDir string
	out      string // output topic
	triggers string // trigger topic
	dec      bench.DecodeFunc
	argv     func(extra ...string) []string
	log      string
	proc     *bench.Process
}

type harness struct {
	cfg     config
	work    string
	brokers []string
	regURL  string
	adm     *kadm.Client
	cl      *kgo.Client
	serdes  profile.Serdes
	reg     *avro.Registry
	topics  bench.Topics
	wl      *bench.Workload
	probes  int      // probe rounds produced on topics so far
	probeCs []string // probe customers
	res     *bench.Results
	weirBin string
	ksJar   string
	procs   bench.Group // every process the run started
}

// start starts a system process in the run's group.
func (h *harness) start(name string, argv []string, logPath string) (*bench.Process, error) {
	p, err := h.procs.Start(name, argv, h.cfg.root, logPath)
	if err == nil {
		say("%s: started (pid %d)", name, p.Pid())
	}
	return p, err
}

func run(ctx context.Context, cfg config) (int, error) {
	began := time.Now()
	h := &harness{cfg: cfg, res: &bench.Results{Versions: map[string]string{}, Settings: map[string]string{}}}
	h.res.Date = began.UTC().Format("2006-01-02T150405Z")
	h.res.GitSHA = gitSHA(cfg.root)
	h.res.Machine = bench.ReadMachine()
	runID := "bench-" + began.UTC().Format("20060102-150405")
	h.work = filepath.Join(cfg.workBase, runID)
	if err := os.MkdirAll(h.work, 0o755); err != nil {
		return 2, err
	}
	say("run %s, work dir %s", runID, h.work)

	// Kafka: the given brokers, or our own single node.
	if len(cfg.brokers) > 0 {
		h.brokers = cfg.brokers
		h.res.Notes = append(h.res.Notes, "Kafka given by KAFKA_BROKERS (not started by the harness; may be shared)")
	} else {
		bs, stopKafka, err := startKafka(ctx, cfg.root, cfg.kafkaScript, filepath.Join(h.work, kafkaDir))
		if err != nil {
			return 2, err
		}
		defer stopKafka()
		h.brokers = bs
	}
	say("kafka at %s", strings.Join(h.brokers, ","))
	if !cfg.keep {
		defer h.cleanUp(runID)
	}
	reg := srfake.New()
	defer reg.Close()
	h.regURL = reg.URL()
	// First of the defers to run (last in, first out): the processes stop
	// before their registry, topics and Kafka go, also when the run is
	// interrupted or fails.
	defer func() {
		for _, name := range h.procs.StopAll(stopGrace) {
			say("stopped %s", name)
		}
	}()
	var err error

	if h.cl, err = kgo.NewClient(kgo.SeedBrokers(h.brokers...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100_000)); err != nil {
		return 2, err
	}
	defer h.cl.Close()
	h.adm = kadm.NewClient(h.cl)
	rc, err := avro.NewHTTPRegistryClient(h.regURL)
	if err != nil {
		return 2, err
	}
	if h.reg, err = avro.NewRegistry(rc); err != nil {
		return 2, err
	}
	if h.serdes, err = profile.AvroSerdes(h.reg, avro.AutoRegister()); err != nil {
		return 2, err
	}
	h.versions()
	h.settings()

	if err := h.build(ctx); err != nil {
		return 2, err
	}
	weirDec, err := bench.WeirDecoder(h.reg)
	if err != nil {
		return 2, err
	}
	h.topics = bench.NewTopics(runID)
	weir := h.newSystem("weir", runID+"-weir", h.topics.Updates, weirDec, h.weirArgv(h.topics, runID+"-weir"))
	ks := h.newSystem("kstreams", runID+"-ks", h.topics.KSProfiles, bench.KSDecoder, h.ksArgv(h.topics, runID+"-ks"))
	weir.triggers, ks.triggers = h.topics.Triggers, h.topics.KSTriggers
	ks.res.Available = h.ksJar != ""
	if !ks.res.Available && ks.res.Note == "" {
		ks.res.Note = "not run"
	}
	if h.ksJar == "" {
		ks.res.Note = h.res.Settings["kstreams_jar"]
	}
	h.res.Systems = []*bench.SystemResult{weir.res, ks.res}
	systems := []*system{weir}
	if ks.res.Available {
		systems = append(systems, ks)
	}

	fail := func(err error) (int, error) {
		h.finish(ctx, began)
		return 1, err
	}
	if err := h.preload(ctx); err != nil {
		return fail(err)
	}
	var mismatch error
	if cfg.phases["throughput"] {
		for _, s := range systems {
			if err := h.throughput(ctx, s); err != nil {
				s.res.Errors = append(s.res.Errors, err.Error())
				say("%s: throughput: %v", s.res.Name, err)
				if s == weir {
					return fail(err)
				}
				systems = systems[:1]
			}
		}
		mismatch = h.verify(ctx, systems, false)
	}
	if cfg.phases["recovery"] && ctx.Err() == nil {
		for _, s := range systems {
			if err := h.recovery(ctx, s); err != nil {
				s.res.Errors = append(s.res.Errors, "recovery: "+err.Error())
				say("%s: recovery: %v", s.res.Name, err)
			}
		}
		if len(systems) > 1 && ctx.Err() == nil {
			// Kafka Streams again, with transactional state stores.
			kt := h.newSystem("kstreams-txn-stores", runID+"-ks", h.topics.KSProfiles, bench.KSDecoder,
				h.ksArgv(h.topics, runID+"-ks", "--transactional-state-stores"))
			kt.stateDir = ks.stateDir
			kt.res.Available = true
			kt.res.Note = "with --transactional-state-stores"
			h.res.Systems = append(h.res.Systems, kt.res)
			if err := h.killRecovery(ctx, kt, true); err != nil {
				kt.res.Errors = append(kt.res.Errors, "recovery: "+err.Error())
				say("%s: recovery: %v", kt.res.Name, err)
			}
			// Every system takes in every probe, then the results must
			// agree again.
			for _, s := range systems {
				if err := h.catchUp(ctx, s); err != nil {
					s.res.Errors = append(s.res.Errors, "catch-up: "+err.Error())
				}
			}
			if e := h.verify(ctx, systems, true); e != nil && mismatch == nil {
				mismatch = e
			}
		}
	}
	if cfg.phases["paced"] && ctx.Err() == nil {
		if err := h.paced(ctx, runID, systems); err != nil {
			h.res.Notes = append(h.res.Notes, "paced run: "+err.Error())
			say("paced: %v", err)
		}
	}
	if cfg.phases["scaling"] && ctx.Err() == nil {
		// Last: its runs write to the same output topics.
		h.scaling(ctx, runID)
	}
	if name := h.finish(ctx, began); name != "" {
		say("results in %s and %s", name, filepath.Join(cfg.outDir, "latest.md"))
	}
	if mismatch != nil {
		return 1, mismatch
	}
	return 0, ctx.Err()
}

// finish writes the results, unless the run was interrupted: a partial
// run must not replace latest.md.
func (h *harness) finish(ctx context.Context, began time.Time) string {
	if ctx.Err() != nil {
		say("interrupted: no results written to %s", h.cfg.outDir)
		return ""
	}
	h.res.Took = time.Since(began).Round(time.Second).String()
	name, err := h.res.Write(h.cfg.outDir)
	if err != nil {
		say("writing results: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(h.cfg.outDir, "latest.md")); err == nil {
		os.Stderr.Write(b)
	}
	return name
}

func (h *harness) newSystem(name, app, out string, dec bench.DecodeFunc, argv func(...string) []string) *system {
	return &system{
		res: &bench.SystemResult{Name: name, Available: true}, app: app, out: out, dec: dec, argv: argv,
		stateDir: filepath.Join(h.work, name+"-state"), log: filepath.Join(h.work, name+".log"),
	}
}

func (h *harness) weirArgv(t bench.Topics, app string) func(...string) []string {
	return func(extra ...string) []string {
		return h.weirWorkerArgv(t, app, filepath.Join(h.work, "weir-state"), app+"-0", extra...)
	}
}

// weirWorkerArgv runs one worker of app on topics t.
func (h *harness) weirWorkerArgv(t bench.Topics, app, stateDir, instance string, extra ...string) []string {
	return append([]string{h.weirBin, "run", "-pipeline", "profiles", "-brokers", strings.Join(h.brokers, ","),
		"-registry", h.regURL, "-auto-register", "-app", app, "-topic-prefix", t.Prefix + ".",
		"-state-dir", stateDir, "-instance", instance, "-static", "-commit-interval", "100ms"}, extra...)
}

func (h *harness) ksArgv(t bench.Topics, app string, flags ...string) func(...string) []string {
	return func(extra ...string) []string {
		argv := []string{"java", "-jar", h.ksJar, "--bootstrap", strings.Join(h.brokers, ","), "--registry", h.regURL,
			"--prefix", t.Prefix, "--app-id", app, "--state-dir", filepath.Join(h.work, "kstreams-state"),
			"--schemas-dir", filepath.Join(h.cfg.root, "events", "schemas")}
		return append(append(argv, flags...), extra...)
	}
}

// build builds weir and, when missing, the Kafka Streams jar.
func (h *harness) build(ctx context.Context) error {
	h.weirBin = filepath.Join(h.work, "weir")
	say("building weir")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", h.weirBin, "./cmd/weir")
	cmd.Dir, cmd.Stdout, cmd.Stderr = h.cfg.root, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/weir: %w", err)
	}
	if h.cfg.skipKS {
		h.res.Settings["kstreams_jar"] = "skipped (BENCH_SKIP_KSTREAMS set)"
		return nil
	}
	jar := filepath.Join(h.cfg.root, "bench", "kstreams", "target", "weir-bench-kstreams.jar")
	if _, err := os.Stat(jar); err != nil {
		say("building the Kafka Streams app (mvn package)")
		cmd := exec.CommandContext(ctx, "mvn", "-q", "-f", filepath.Join(h.cfg.root, "bench", "kstreams", "pom.xml"), "-DskipTests", "package")
		cmd.Dir = h.cfg.root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			msg := fmt.Sprintf("Kafka Streams app could not be built (%v): %s", err, lastLines(out.String(), 5))
			say("%s: continuing with Weir only", msg)
			h.res.Settings["kstreams_jar"] = "NOT BUILT: " + msg
			return nil
		}
	}
	if _, err := os.Stat(jar); err != nil {
		h.res.Settings["kstreams_jar"] = "NOT BUILT: mvn package made no " + jar
		return nil
	}
	// A copy: a rebuild of the jar during the run must not change it.
	h.ksJar = filepath.Join(h.work, "weir-bench-kstreams.jar")
	b, err := os.ReadFile(jar)
	if err == nil {
		err = os.WriteFile(h.ksJar, b, 0o644)
	}
	if err != nil {
		return err
	}
	h.res.Settings["kstreams_jar"] = jar
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func (h *harness) preload(ctx context.Context) error {
	cfg := h.cfg
	say("generating %d events over %d customers (seed %d)", cfg.events, cfg.customers, cfg.seed)
	recs := profile.Generate(cfg.seed, cfg.events, profile.GenOptions{Customers: cfg.customers})
	wl, err := bench.Build(recs, h.topics, func(r profile.Record) ([]byte, []byte, error) { return r.Encode(h.serdes) }, cfg.seed, cfg.badEvery)
	if err != nil {
		return err
	}
	say("running profilemodel over the workload")
	wl.RunModel(recs, cfg.partitions)
	recs = nil
	h.wl = wl
	w := &h.res.Workload
	w.Seed, w.Events, w.Malformed, w.Customers, w.ValueBytes, w.Partitions = cfg.seed, wl.Events, wl.Malformed, cfg.customers, wl.Bytes, cfg.partitions
	if err := bench.CreateTopics(ctx, h.adm, h.topics, cfg.partitions, false); err != nil {
		return err
	}
	start := time.Now()
	if err := bench.Produce(ctx, h.cl, wl.Records); err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	w.PreloadSeconds = time.Since(start).Seconds()
	say("preloaded %d records (%d events, %d malformed, %.0f MiB of event values) in %.1fs",
		len(wl.Records), wl.Events, wl.Malformed, float64(wl.Bytes)/(1<<20), w.PreloadSeconds)
	wl.Records = nil
	// Probe customers: the busiest ones, spread over partitions.
	var cs []string
	for c := range wl.Expect {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	h.probeCs = cs[:min(len(cs), 48)]
	return nil
}

// throughput drains the preloaded input with a fresh state directory.
func (h *harness) throughput(ctx context.Context, s *system) error {
	os.RemoveAll(s.stateDir)
	say("%s: draining %d events from the earliest offset", s.res.Name, h.wl.Events)
	argv := s.argv()
	var cpu *bench.CPUCollector
	if s.res.Name == "weir" {
		var err error
		if argv, cpu, err = h.profiled(argv); err != nil {
			return err
		}
		if cpu != nil {
			defer cpu.Stop(0)
		}
	}
	p, err := h.start(s.res.Name, argv, s.log)
	if err != nil {
		return err
	}
	s.proc = p
	defer p.Stop(stopGrace)
	dctx, cancel := context.WithTimeout(ctx, h.cfg.drainTimeout)
	defer cancel()
	last := time.Now()
	d, err := bench.WaitDrained(dctx, h.adm, s.app, h.topics.Inputs(), 50*time.Millisecond, p.Exited(), func(pr bench.Progress) {
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			say("%s: %d/%d committed", s.res.Name, pr.Committed, pr.Total)
		}
	})
	sample := p.Sample()
	if err != nil {
		return err
	}
	r := s.res
	r.Events = h.wl.Events
	// The first record: the first commit seen, or earlier the process's
	// own word that it fetches (weir) or runs (Kafka Streams: RUNNING
	// comes after assignment and restore, right before the first fetch).
	for _, l := range p.Lines() {
		if (l.Text == "weir: fetching" || l.Text == "kstreams: running") && l.At.Before(d.FirstCommit) {
			d.FirstCommit = l.At
			break
		}
	}
	r.StartToFirstCommitSecs = d.FirstCommit.Sub(p.Started).Seconds()
	r.DrainSeconds = d.Done.Sub(d.FirstCommit).Seconds()
	if r.DrainSeconds > 0 {
		r.Throughput = float64(r.Events) / r.DrainSeconds
	}
	r.ThroughputWithStartup = float64(r.Events) / d.Done.Sub(p.Started).Seconds()
	r.CPUSeconds = sample.CPUSeconds
	r.CPUPer1000Events = sample.CPUSeconds / float64(r.Events) * 1000
	r.PeakRSSBytes = sample.PeakRSS
	say("%s: drained in %.1fs (%.0f events/s; %.0f with start-up), CPU %.1fs, peak RSS %d MiB",
		r.Name, r.DrainSeconds, r.Throughput, r.ThroughputWithStartup, r.CPUSeconds, r.PeakRSSBytes>>20)
	if cpu != nil {
		cpu.Stop(5 * time.Second)
		if path, b, err := h.saveProfile(cpu, r.Name, d.FirstCommit, d.Done); err != nil {
			r.Errors = append(r.Errors, "CPU profile: "+err.Error())
			say("%s: CPU profile: %v", r.Name, err)
		} else {
			r.CPUProfile, r.CPUBreakdown = path, b
		}
	}
	if err := p.Stop(stopGrace); err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	return nil
}

// saveProfile writes the CPU profile of [from, to] next to the logs as
// <name>-cpu.pprof (binary, out of git) and returns its path (relative
// to the module root) and breakdown.
func (h *harness) saveProfile(cpu *bench.CPUCollector, name string, from, to time.Time) (string, *bench.Breakdown, error) {
	prof, err := cpu.Profile(from, to)
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(h.work, name+"-cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		return "", nil, err
	}
	err = prof.Write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", nil, err
	}
	b, err := bench.Analyze(prof, 3)
	if err != nil {
		return "", nil, err
	}
	say("%s: CPU profile of the drain in %s (go tool pprof -top %s); where the time goes:\n%s", name, path, path, b.Text())
	if err := os.WriteFile(strings.TrimSuffix(path, ".pprof")+".txt", []byte(b.Text()), 0o644); err != nil {
		return "", nil, err
	}
	if rel, err := filepath.Rel(h.cfg.root, path); err == nil && !strings.HasPrefix(rel, "..") {
		path = rel
	}
	return path, &b, nil
}

// profiled adds -pprof to argv (when the run profiles) and starts
// collecting from it; the collector is nil otherwise.
func (h *harness) profiled(argv []string) ([]string, *bench.CPUCollector, error) {
	if !h.cfg.profile {
		return argv, nil, nil
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	return append(argv, "-pprof", addr), bench.CollectCPU(addr), nil
}

// freeAddr is a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// verify reads both outputs and compares them (and each with the model
// unless final).
func (h *harness) verify(ctx context.Context, systems []*system, final bool) error {
	outs := make([]bench.Output, len(systems))
	c := &h.res.Correctness
	if !final {
		c.ModelMismatches = make([]int, len(systems))
	}
	for i, s := range systems {
		o, err := bench.ReadOutput(ctx, h.brokers, s.out, s.dec, 3*time.Second)
		if err != nil {
			s.res.Errors = append(s.res.Errors, "reading output: "+err.Error())
			return err
		}
		outs[i] = o
		if final {
			continue
		}
		s.res.OutputRecords, s.res.Customers = o.Records, len(o.Last)
		mm := bench.CheckModel(o.Last, h.wl.Expect)
		c.ModelMismatches[i] = len(mm)
		for _, m := range mm[:min(len(mm), 3)] {
			c.ModelExamples = append(c.ModelExamples, s.res.Name+": "+m.String())
		}
		say("%s: %d output records, %d customers, %d mismatches against the input model", s.res.Name, o.Records, len(o.Last), len(mm))
	}
	var terr error
	if !final {
		terr = h.verifyTriggers(ctx, systems, outs)
	}
	if len(systems) < 2 {
		return terr
	}
	mm := bench.Compare(outs[0].Last, outs[1].Last)
	var ex []string
	for _, m := range mm[:min(len(mm), 5)] {
		ex = append(ex, m.String())
	}
	if final {
		c.FinalCompared, c.FinalMismatches, c.FinalExamples = true, len(mm), ex
	} else {
		c.Compared, c.Customers, c.Mismatches, c.Examples = true, len(outs[0].Last), len(mm), ex
	}
	say("compare weir vs kstreams (final=%v): %d mismatches %v", final, len(mm), ex)
	if len(mm) > 0 {
		return errors.Join(terr, fmt.Errorf("weir and kstreams disagree on %d fields (e.g. %s)", len(mm), strings.Join(ex, "; ")))
	}
	return terr
}

// verifyTriggers compares the systems' triggers with each other, and
// each system's profiles and triggers with profilemodel (every field).
func (h *harness) verifyTriggers(ctx context.Context, systems []*system, outs []bench.Output) error {
	weirDec, err := bench.WeirTriggerDecoder(h.reg)
	if err != nil {
		return err
	}
	var sides []bench.Side
	for i, s := range systems {
		sd := bench.Side{Name: s.res.Name, Profiles: outs[i].Last, Triggers: s.triggers, Decode: bench.KSTriggerDecoder}
		if i == 0 {
			sd.Decode = weirDec
		}
		sides = append(sides, sd)
	}
	return bench.CheckTriggersAndModel(ctx, h.brokers, sides, h.wl.Model, h.res, say)
}

var restoredRE = regexp.MustCompile(`restored (\d+) records`)

// restoredTotal is the largest "restored N records" count printed from
// line index from on.
func restoredTotal(lines []bench.Line, from int) (int64, time.Time) {
	var n int64
	var at time.Time
	for _, l := range lines[min(from, len(lines)):] {
		if m := restoredRE.FindStringSubmatch(l.Text); m != nil {
			if v, _ := strconv.ParseInt(m[1], 10, 64); v >= n {
				n, at = v, l.At
			}
		}
	}
	return n, at
}

// probe produces one page view per probe customer (event time after
// every preloaded event) and returns the versions that prove them applied.
func (h *harness) probe(ctx context.Context) (map[string]int64, error) {
	h.probes++
	at := h.wl.LastTime.Add(time.Duration(h.probes) * time.Second)
	var recs []*kgo.Record
	want := map[string]int64{}
	for _, v := range bench.ProbeViews(h.probeCs, at, h.probes) {
		b, err := h.serdes.PageView.Encode(h.topics.Views, v)
		if err != nil {
			return nil, err
		}
		recs = append(recs, &kgo.Record{Topic: h.topics.Views, Key: []byte(v.CustomerID), Value: b, Timestamp: at})
		e := h.wl.Expect[v.CustomerID]
		want[v.CustomerID] = e.Version + int64(h.probes)
	}
	return want, bench.Produce(ctx, h.cl, recs)
}

// startAndProbe starts s, produces a probe and waits for its outputs.
// It returns the time from start to the outputs, and the restored count.
func (h *harness) startAndProbe(ctx context.Context, s *system, extra ...string) (time.Duration, int64, time.Time, error) {
	watch, err := bench.NewWatcher(ctx, h.brokers, h.adm, s.out, s.dec)
	if err != nil {
		return 0, 0, time.Time{}, err
	}
	defer watch.Close()
	p, err := h.start(s.res.Name, s.argv(extra...), s.log)
	if err != nil {
		return 0, 0, time.Time{}, err
	}
	s.proc = p
	want, err := h.probe(ctx)
	if err != nil {
		return 0, 0, time.Time{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	seen, err := watch.WaitVersions(wctx, want, p.Exited())
	if err != nil {
		return 0, 0, time.Time{}, err
	}
	running, _, _ := p.WaitLine(wctx, 0, strings.SplitN(s.res.Name, "-", 2)[0]+": running")
	n, _ := restoredTotal(p.Lines(), 0)
	return seen.Sub(p.Started), n, running.At, nil
}

// recovery: restore from the changelog with no state, then kill -9.
func (h *harness) recovery(ctx context.Context, s *system) error {
	os.RemoveAll(s.stateDir)
	say("%s: restore with an empty state directory", s.res.Name)
	took, n, running, err := h.startAndProbe(ctx, s)
	if err != nil {
		if s.proc != nil {
			s.proc.Kill9()
		}
		return err
	}
	r := s.res
	r.RestoredRecords, r.RestoreToOutputSe = n, took.Seconds()
	if !running.IsZero() {
		r.RestoreSeconds = running.Sub(s.proc.Started).Seconds()
		if r.RestoreSeconds > 0 {
			r.RestoreRate = float64(n) / r.RestoreSeconds
		}
	}
	say("%s: restored %d records, running after %.1fs (%.0f records/s), probe output after %.1fs", r.Name, n, r.RestoreSeconds, r.RestoreRate, took.Seconds())
	return h.killRecovery(ctx, s, false)
}

// killRecovery kills s with SIGKILL and measures how long it takes to
// produce outputs again. With warm, s is started (and probed) first.
func (h *harness) killRecovery(ctx context.Context, s *system, warm bool) error {
	if warm {
		if _, _, _, err := h.startAndProbe(ctx, s); err != nil {
			if s.proc != nil {
				s.proc.Kill9()
			}
			return err
		}
	}
	s.proc.Kill9()
	say("%s: killed with SIGKILL; starting again", s.res.Name)
	took, n, _, err := h.startAndProbe(ctx, s)
	if s.proc != nil {
		defer s.proc.Stop(stopGrace)
	}
	if err != nil {
		return err
	}
	s.res.KillToOutputSecs, s.res.KillRestoredRecords = took.Seconds(), n
	say("%s: output again %.1fs after the restart (%d records restored)", s.res.Name, took.Seconds(), n)
	return nil
}

// cleanUp deletes the run's topics (every name starting with runID) and
// its state directories and binaries; the logs and profiles stay.
func (h *harness) cleanUp(runID string) {
	if cl, err := kgo.NewClient(kgo.SeedBrokers(h.brokers...)); err == nil && len(h.brokers) > 0 {
		defer cl.Close()
		adm := kadm.NewClient(cl)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if topics, err := adm.ListTopics(ctx); err == nil {
			var mine []string
			for _, t := range topics.Names() {
				if strings.HasPrefix(t, runID) {
					mine = append(mine, t)
				}
			}
			if len(mine) > 0 {
				if _, err := adm.DeleteTopics(ctx, mine...); err != nil {
					say("deleting the run's topics: %v", err)
				}
			}
		}
	}
	entries, _ := os.ReadDir(h.work)
	for _, e := range entries {
		if e.Name() == kafkaDir {
			continue // still running: kafka.sh stop runs after, and keeps the logs
		}
		if ext := filepath.Ext(e.Name()); ext != ".log" && ext != ".pprof" && ext != ".txt" {
			os.RemoveAll(filepath.Join(h.work, e.Name()))
		}
	}
}

// catchUp runs s on its state until it has taken in all its input.
func (h *harness) catchUp(ctx context.Context, s *system) error {
	p, err := h.start(s.res.Name, s.argv(), s.log)
	if err != nil {
		return err
	}
	defer p.Stop(stopGrace)
	dctx, cancel := context.WithTimeout(ctx, h.cfg.drainTimeout)
	defer cancel()
	_, err = bench.WaitDrained(dctx, h.adm, s.app, h.topics.Inputs(), 100*time.Millisecond, p.Exited(), nil)
	return err
}

func (h *harness) versions() {
	v := h.res.Versions
	v["go"] = runtime.Version()
	if b, err := os.ReadFile(filepath.Join(h.cfg.root, "scripts", "kafka", "pom.xml")); err == nil {
		if m := regexp.MustCompile(`<kafka.version>([^<]+)<`).FindSubmatch(b); m != nil {
			v["kafka_broker"] = string(m[1])
		}
	}
	if b, err := os.ReadFile(filepath.Join(h.cfg.root, "bench", "kstreams", "pom.xml")); err == nil {
		if m := regexp.MustCompile(`<kafka.version>([^<]+)<`).FindSubmatch(b); m != nil {
			v["kafka_streams"] = string(m[1])
		}
	}
	if out, err := exec.Command("java", "-version").CombinedOutput(); err == nil {
		v["java"] = strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
	}
}

func (h *harness) settings() {
	s := h.res.Settings
	s["guarantee"] = "exactly-once (Weir: transactions per commit; KS: exactly_once_v2)"
	s["commit_interval"] = "100ms"
	s["workers"] = "1 process, 1 stream thread (KS)"
	s["offset_reset"] = "earliest"
	s["weir_pipeline"] = "weir run -pipeline profiles: the full profile topology (also triggers, carts, purchase/view join)"
	s["kill9"] = "SIGKILL, then the same command on the same state directory; no static membership, so the group waits for the killed member's session timeout (45 s, both systems' default)"
	if h.cfg.profile {
		s["weir_cpu_profile"] = "weir run -pprof during the throughput drain and the one-partition run: back-to-back 1 s CPU profiles (100 Hz sampling)"
	}
	if h.cfg.phases["scaling"] {
		s["scaling"] = fmt.Sprintf("workers %v, one process each, fresh app id and state per run; then 1 partition per topic, 1 worker", h.cfg.scale)
	}
	s["kstreams_topology"] = "Weir's whole profile topology (bench/kstreams/README.md): purchase/view join, catalog and customers enrichment, windows, carts, triggers, per-commit profiles"
}

// kafkaDir is the directory, in the run's, of the Kafka the bench starts.
const kafkaDir = "kafka"

// startKafka runs script start (scripts/kafka.sh) and returns the
// bootstrap address (its last line) and how to stop it. An interrupted
// or failed start is stopped too: the broker may be up already. Both run
// with WEIR_KAFKA_RUN=runDir, so the cluster is the bench's own: a stop
// never reaches one someone else started (kafka.sh's default run
// directory is the one `make kafka-up` uses), and a start does not
// refuse because of it.
func startKafka(ctx context.Context, root, script, runDir string) ([]string, func(), error) {
	say("starting a single-node Kafka (%s start, run dir %s)", script, runDir)
	env := append(os.Environ(), "WEIR_KAFKA_RUN="+runDir)
	stop := func() {
		say("stopping Kafka (%s stop)", script)
		c := exec.Command(script, "stop")
		c.Dir, c.Env, c.Stdout, c.Stderr = root, env, os.Stderr, os.Stderr
		_ = c.Run()
	}
	cmd := exec.CommandContext(ctx, script, "start")
	cmd.Dir, cmd.Env, cmd.Stderr = root, env, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("%s start: %w", script, err)
	}
	var last string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			last = t
		}
	}
	if last == "" {
		stop()
		return nil, nil, errors.New(script + " start printed no bootstrap address")
	}
	return strings.Split(last, ","), stop, nil
}

// gitSHA is the first 12 hex digits of HEAD of the repository at root
// ("nogit" when git cannot say: no git, or no repository).
func gitSHA(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--verify", "HEAD").Output()
	if err != nil {
		return "nogit"
	}
	s := strings.TrimSpace(string(out))
	return s[:min(len(s), 12)]
}
