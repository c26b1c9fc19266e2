package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is the run's settings: flags, each with an environment variable
// that gives its value when the flag is not passed (bench/README.md).
type config struct {
	root         string
	brokers      []string
	events       int
	customers    int
	seed         uint64
	badEvery     int
	partitions   int32
	pacedSecs    int
	phases       map[string]bool
	skipKS       bool
	outDir       string
	drainTimeout time.Duration
	keep         bool
	profile      bool
	scale        []int // worker counts of the scaling table
	onePartition int   // events of the one-partition run
	kafkaScript  string

	workBase string // -work-dir
}

// phaseNames are the phases in the order they run.
var phaseNames = []string{"throughput", "recovery", "paced", "scaling"}

// option is one flag and its environment variable.
type option struct {
	flag, env string
}

const usageHead = `bench: Weir against Kafka Streams on a real Kafka (bench/README.md).

Usage: go run ./bench/cmd/bench [flags]    (make bench runs it with no flags)

Every flag can also be given by the environment variable named beside it;
a flag on the command line wins over the variable.

`

// parseConfig reads flags from args over environment variables from
// getenv. With -h it prints the options to out and returns flag.ErrHelp.
func parseConfig(args []string, getenv func(string) string, root string, out io.Writer) (config, error) {
	c := config{root: root, phases: map[string]bool{}}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	var (
		drainSecs  int
		phases     string
		scale      string
		brokers    string
		partitions int
		opts       []option
	)
	add := func(name, env string) { opts = append(opts, option{name, env}) }
	fs.IntVar(&c.events, "events", 150_000, "events preloaded (the drains' length grows with them)")
	add("events", "BENCH_EVENTS")
	fs.IntVar(&c.customers, "customers", 0, "distinct customers; 0: events/100 within [1000, 20000]")
	add("customers", "BENCH_CUSTOMERS")
	fs.Uint64Var(&c.seed, "seed", 1, "generator seed")
	add("seed", "BENCH_SEED")
	fs.IntVar(&c.badEvery, "bad-every", 1000, "every n-th event is malformed; 0 for none")
	add("bad-every", "BENCH_BAD_EVERY")
	fs.IntVar(&partitions, "partitions", 12, "partitions of the input and output topics")
	add("partitions", "BENCH_PARTITIONS")
	fs.IntVar(&c.pacedSecs, "paced-seconds", 60, "length of the paced run, per system")
	add("paced-seconds", "BENCH_PACED_SECONDS")
	fs.StringVar(&phases, "phases", strings.Join(phaseNames, ","), "phases to run, comma-separated: "+strings.Join(phaseNames, ", "))
	add("phases", "BENCH_PHASES")
	fs.BoolVar(&c.skipKS, "skip-kstreams", false, "run Weir only (no Java, no Maven)")
	add("skip-kstreams", "BENCH_SKIP_KSTREAMS")
	fs.StringVar(&c.outDir, "out", filepath.Join("bench", "results"), "directory of the results (JSON, latest.md, latest.png); relative to the module root")
	add("out", "BENCH_OUT")
	fs.IntVar(&drainSecs, "drain-timeout-seconds", 1800, "give up on a drain after this long")
	add("drain-timeout-seconds", "BENCH_DRAIN_TIMEOUT_SECONDS")
	fs.StringVar(&c.workBase, "work-dir", filepath.Join(".cache", "bench"), "where each run keeps its logs, CPU profiles, state and binaries (in <dir>/<run>/); relative to the module root")
	add("work-dir", "BENCH_WORK_DIR")
	fs.BoolVar(&c.keep, "keep", false, "keep the run's topics, state directories and binaries (logs and profiles are always kept)")
	add("keep", "BENCH_KEEP")
	fs.BoolVar(&c.profile, "profile", true, "take a CPU profile of Weir's drain (weir run -pprof) and print where the time goes")
	add("profile", "BENCH_PROFILE")
	fs.StringVar(&scale, "scale-workers", "1,2,4", "worker counts of the scaling phase's table, comma-separated")
	add("scale-workers", "BENCH_SCALE_WORKERS")
	fs.IntVar(&c.onePartition, "one-partition-events", 30_000, "events of the scaling phase's one-partition run (at most -events; 0: none)")
	add("one-partition-events", "BENCH_ONE_PARTITION_EVENTS")
	fs.StringVar(&brokers, "brokers", "", "comma-separated bootstrap brokers of a running Kafka to use (never stopped); empty: start one with -kafka-script")
	add("brokers", "KAFKA_BROKERS")
	fs.StringVar(&c.kafkaScript, "kafka-script", filepath.Join("scripts", "kafka.sh"), "script (relative to the module root) that starts ('start': prints the bootstrap address last) and stops ('stop') the bench's own Kafka")
	add("kafka-script", "BENCH_KAFKA_SCRIPT")
	envOf := map[string]string{}
	for _, o := range opts {
		envOf[o.flag] = o.env
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.VisitAll(func(f *flag.Flag) {
			typ, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(fs.Output(), "  -%s %s\t(env %s, default %q)\n    \t%s\n", f.Name, typ, envOf[f.Name], f.DefValue, usage)
		})
	}
	for _, o := range opts {
		if v := getenv(o.env); v != "" {
			if err := fs.Set(o.flag, v); err != nil {
				return c, fmt.Errorf("%s=%q: %v (or pass -%s)", o.env, v, err, o.flag)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q: options are flags (-h lists them)", fs.Args())
	}
	if c.events <= 0 {
		return c, fmt.Errorf("-events %d: want at least 1", c.events)
	}
	if partitions < 1 || partitions > 1000 {
		return c, fmt.Errorf("-partitions %d: want 1 to 1000", partitions)
	}
	c.partitions = int32(partitions)
	c.onePartition = min(max(c.onePartition, 0), c.events)
	if c.customers == 0 {
		c.customers = min(max(c.events/100, 1000), 20000)
	}
	c.drainTimeout = time.Duration(drainSecs) * time.Second
	for _, p := range strings.Split(phases, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(phaseNames, p) {
			return c, fmt.Errorf("-phases: unknown phase %q: use some of %s", p, strings.Join(phaseNames, ","))
		}
		c.phases[p] = true
	}
	for _, s := range strings.Split(scale, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 64 {
			return c, fmt.Errorf("-scale-workers %q: want worker counts from 1 to 64, comma-separated", scale)
		}
		c.scale = append(c.scale, n)
	}
	for _, p := range []*string{&c.outDir, &c.kafkaScript, &c.workBase} {
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(root, *p)
		}
	}
	if brokers != "" {
		c.brokers = strings.Split(brokers, ",")
	}
	return c, nil
}

// loadConfig parses the process's flags and environment.
func loadConfig(args []string) (config, error) {
	wd, err := os.Getwd()
	if err != nil {
		return config{}, err
	}
	root, err := findRoot(wd)
	if err != nil {
		return config{}, err
	}
	return parseConfig(args, os.Getenv, root, os.Stderr)
}

// findRoot is the nearest directory above dir with a go.mod.
func findRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("no go.mod above " + dir)
		}
	}
}
