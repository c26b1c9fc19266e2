// Package profiledemo runs the personalization application on one
// machine: an embedded Kafka cluster and schema registry unless real ones
// are given, a seeded event generator paced at a rate, and workers running
// the profile topology. It prints a status line every few seconds and,
// at the end, checks the read_committed profile updates: per customer the
// versions strictly increase and the last one equals the number of valid
// events of that customer in the inputs (which hold every event the
// generator sent); each record that does not decode is dead-lettered.
// With Config.Web it also serves the browser demo (package journey).
package profiledemo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/internal/journey"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/serve"
	"github.com/weirstream/weir/topology"
)

// Config configures Run. Zero values take the defaults written beside.
type Config struct {
	Brokers     []string      // default: an embedded 3-broker kfake cluster
	Registry    string        // default: an embedded srfake registry
	AppID       string        // default: "weir-profiles"
	TopicPrefix string        // put before every topic name; default none
	Workers     int           // default: 2
	Seed        uint64        // default: 1
	Rate        int           // events per second; default 2000
	Duration    time.Duration // how long to generate; 0: until ctx ends
	Customers   int           // default: 1000
	BadShare    float64       // share of malformed records; zero: none
	Partitions  int32         // default: 6
	Status      time.Duration // status line interval; default 2s
	HTTP        string        // worker 0's HTTP address; others pick free ports. Default: a free port
	Token       string        // bearer token the HTTP API requires; default: a random one, printed
	Timeout     time.Duration // to catch up after generating; default 2m
	// Web is the address of the browser demo (the shop, the profile
	// panel and the operator view; package journey). Default: none.
	Web string
	// CartIdle is profile.Config.CartIdle; default 30m.
	CartIdle time.Duration
	Log      *zap.Logger // default: none
}

// Result is what the demo counted.
type Result struct {
	Events, Profiles, Updates, Triggers, DeadLetters int
	P99                                              time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("demo: events=%d profiles=%d updates=%d triggers=%d dlq=%d p99_ms=%d",
		r.Events, r.Profiles, r.Updates, r.Triggers, r.DeadLetters, r.P99.Milliseconds())
}

// Run runs the demo: cfg.Duration of generation (or, with 0, until ctx
// ends), then waits for the outputs to catch up, checks them, stops the
// workers and returns. With cfg.Web it also serves the browser demo
// (package journey) until then.
func Run(ctx context.Context, cfg Config, status io.Writer) (Result, error) {
	cfg = withDefaults(cfg)
	brokers, registry, stopEmbedded, err := demo.Embedded(cfg.Brokers, cfg.Registry, status)
	defer stopEmbedded()
	if err != nil {
		return Result{}, err
	}
	cfg.Brokers, cfg.Registry = brokers, registry
	if cfg.Token == "" {
		if cfg.Token, err = randomToken(); err != nil {
			return Result{}, err
		}
	}
	rc, err := avro.NewHTTPRegistryClient(cfg.Registry)
	if err != nil {
		return Result{}, err
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		return Result{}, err
	}
	serdes, err := profile.AvroSerdes(reg, avro.AutoRegister())
	if err != nil {
		return Result{}, err
	}
	tp := profile.PrefixedTopics(cfg.TopicPrefix)
	topo, err := profile.Topology(profile.Config{AppID: cfg.AppID, Topics: tp, Serdes: serdes, BadInput: topology.DeadLetter, CartIdle: cfg.CartIdle})
	if err != nil {
		return Result{}, err
	}
	if err := createTopics(ctx, cfg.Brokers, tp, cfg.Partitions, cfg.Web != ""); err != nil {
		return Result{}, err
	}

	// The workload: event times follow the wall clock at the given rate,
	// so end-to-end latency is real. Without a duration, rounds of a
	// minute follow one another until ctx ends.
	forever := cfg.Duration == 0
	round := cfg.Duration
	if forever {
		round = produceRound
	}
	recs := pacedWorkload(cfg.Seed, cfg.Rate, round, cfg.Customers, time.Now())

	dir, err := os.MkdirTemp("", "weir-profiles-*")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	// Workers, checks and the pages outlive ctx: when it ends a run
	// without a duration, they catch up and check what was sent.
	base := context.WithoutCancel(ctx)
	lat := newLatency()
	watch := newWatcher(cfg, tp)
	var op *journey.Operator
	var engine *journey.Engine
	var secret string
	if cfg.Web != "" {
		if secret, err = randomToken(); err != nil {
			return Result{}, err
		}
		engine = journey.NewEngine(secret, cfg.Log.Named("engine"))
		op = journey.NewOperator(time.Second, 300, func() journey.Totals {
			t := watch.totals()
			t.Webhooks = engine.Total()
			return t
		})
	}
	workers, err := startWorkers(base, cfg, topo, serdes, tp, dir, lat, op)
	if err != nil {
		return Result{}, err
	}
	stopped := false
	defer func() {
		if !stopped {
			workers.stopAll()
		}
	}()
	for _, w := range workers.ws {
		fmt.Fprintf(status, "demo: worker %d serving http://%s (try /v1/profiles/c-00001, /v1/profiles/c-00001/stream, /v1/globals/%s/<product id>, /v1/triggers, /metrics)\n", w.index, w.addr, tp.Products)
		watch.servers = append(watch.servers, w.srv)
	}
	fmt.Fprintf(status, "demo: profiles and triggers need the token %s, e.g.\n  curl -H 'Authorization: Bearer %s' http://%s/v1/profiles/c-00001\n",
		cfg.Token, cfg.Token, workers.ws[0].addr)
	wdone := make(chan error, 1)
	wctx2, wstop := context.WithCancel(base)
	defer wstop()
	go func() { wdone <- watch.run(wctx2) }()
	var pages *web
	if cfg.Web != "" {
		catalog, customers := catalogOf(recs)
		pages, err = startWeb(base, cfg, tp, reg, rc, workers, op, engine, secret, catalog, customers)
		if err != nil {
			return Result{}, err
		}
		defer pages.close()
		printPages(status, pages)
	}
	if forever {
		fmt.Fprintf(status, "demo: %d workers started; generating %d events/s until stopped\n", cfg.Workers, cfg.Rate)
	} else {
		fmt.Fprintf(status, "demo: %d workers started; generating %d events at %d/s for %v\n", cfg.Workers, len(recs), cfg.Rate, cfg.Duration)
	}

	var sent sent
	var genErr error
	if forever {
		sent, genErr = generateRounds(ctx, cfg, serdes, recs, watch, lat, status)
		fmt.Fprintf(status, "demo: stopped generating; checking that every event was applied once (Ctrl-C again to quit)\n")
	} else {
		sent, genErr = generate(ctx, cfg, serdes, recs, watch, lat, status)
	}
	if pages != nil {
		pages.close() // no clicks while the inputs are counted
	}
	var checkErr error
	if genErr == nil {
		cctx, cancel := context.WithTimeout(base, cfg.Timeout)
		checkErr = checkInputs(cctx, cfg, tp, serdes, sent, watch)
		if checkErr == nil {
			var addrs []string
			for _, w := range workers.running() {
				addrs = append(addrs, w.addr)
			}
			checkErr = watch.checkServing(cctx, addrs)
			if checkErr == nil {
				checkErr = checkGlobals(cctx, addrs, tp.Products, recs, cfg.Token)
			}
		}
		if running := workers.running(); checkErr == nil && len(running) > 1 {
			// One worker stops; the others serve every profile once they
			// have restored the tasks they take over.
			last := running[len(running)-1]
			err := workers.Stop(last.index)
			var addrs []string
			for _, w := range workers.running() {
				addrs = append(addrs, w.addr)
			}
			checkErr = errors.Join(err, watch.checkServing(cctx, addrs))
			if checkErr == nil {
				fmt.Fprintf(status, "demo: worker %d stopped; the others serve every profile\n", last.index)
			}
		}
		cancel()
	}
	wstop()
	<-wdone
	stopped = true
	errs := workers.stopAll()
	res := watch.result(sent, lat)
	return res, errors.Join(append(errs, genErr, checkErr)...)
}

// checkInputs checks that the inputs hold every valid event the
// generator sent (the shop may have added some, also for generated
// customers) and waits for each customer's profile to reach its count.
func checkInputs(ctx context.Context, cfg Config, tp profile.Topics, serdes profile.Serdes, s sent, watch *watcher) error {
	want, err := countInputs(ctx, cfg.Brokers, tp, serdes)
	if err != nil {
		return err
	}
	for c, n := range s.perCust {
		if want.valid[c] < n {
			return fmt.Errorf("demo: customer %s: %d valid events sent, %d in the inputs", c, n, want.valid[c])
		}
	}
	if want.invalid < s.malformed {
		return fmt.Errorf("demo: %d malformed records sent, %d in the inputs", s.malformed, want.invalid)
	}
	return watch.waitComplete(ctx, want.valid, want.invalid)
}

// sent is what the generator produced, for the final check.
type sent struct {
	events    int
	perCust   map[string]int64 // valid events per customer
	malformed int
}

// pacedWorkload generates rate events per second for duration, event
// times following the wall clock from start, after the table rows.
func pacedWorkload(seed uint64, rate int, duration time.Duration, customers int, start time.Time) []profile.Record {
	n := int(float64(rate) * duration.Seconds())
	gen := func(gap time.Duration) []profile.Record {
		return profile.Generate(seed, n, profile.GenOptions{Customers: customers, Start: start, MeanGap: gap})
	}
	gap := time.Second / time.Duration(rate)
	recs := gen(gap)
	// The generator's mean gap is not exactly MeanGap (funnels, late
	// events): correct it a few times so the events span duration and
	// event time keeps pace with the wall clock.
	for range 4 {
		last := start
		for _, r := range recs {
			if r.IsEvent() && r.Time.After(last) {
				last = r.Time
			}
		}
		span := last.Sub(start)
		if span <= 0 {
			break
		}
		gap = time.Duration(float64(gap) * float64(duration) / float64(span))
		recs = gen(max(gap, time.Microsecond))
	}
	return recs
}

// generate produces recs, pacing events on their event time. watch and
// lat are optional (nil: the status line counts only what was sent).
func generate(ctx context.Context, cfg Config, s profile.Serdes, recs []profile.Record, watch *watcher, lat *latency, status io.Writer) (sent, error) {
	out := sent{perCust: map[string]int64{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return out, err
	}
	defer cl.Close()
	var perr error
	var mu sync.Mutex
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			perr = errors.Join(perr, err)
			mu.Unlock()
		}
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	nextStatus := time.Now().Add(cfg.Status)
	began := time.Now()
	lastEvents := 0
	bad := 0
	// What was handed to the client is written even when ctx ends, so
	// the counts returned match what Kafka holds.
	pctx := context.WithoutCancel(ctx)
	var stopped error
records:
	for i, r := range recs {
		// Pace on event time, so end-to-end latency (commit time minus
		// event time) measures Weir, not the generator.
		for r.IsEvent() && time.Until(r.Time) > 0 {
			select {
			case <-ctx.Done():
				stopped = ctx.Err()
				break records
			case <-tick.C:
			}
		}
		r.Topic = cfg.TopicPrefix + r.Topic
		k, v, err := r.Encode(s)
		if err != nil {
			return out, err
		}
		if r.IsEvent() {
			out.events++
			// A deterministic share of events goes out malformed.
			if cfg.BadShare > 0 && float64(bad) < cfg.BadShare*float64(out.events) {
				bad++
				out.malformed++
				v = profile.Malformed(cfg.Seed, i)
			} else {
				out.perCust[r.Key]++
			}
		}
		cl.Produce(pctx, &kgo.Record{Topic: r.Topic, Key: k, Value: v, Timestamp: r.Time}, promise)
		if now := time.Now(); now.After(nextStatus) {
			rate := float64(out.events-lastEvents) / cfg.Status.Seconds()
			lastEvents = out.events
			nextStatus = now.Add(cfg.Status)
			if watch != nil {
				fmt.Fprintf(status, "demo: %s events/s=%.0f %s p99_ms=%d\n", now.Sub(began).Truncate(time.Second), rate, watch.status(), lat.p99().Milliseconds())
			} else {
				fmt.Fprintf(status, "produce: %s events/s=%.0f events=%d malformed=%d\n", now.Sub(began).Truncate(time.Second), rate, out.events, out.malformed)
			}
		}
	}
	fctx, cancel := context.WithTimeout(pctx, flushTimeout)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		return out, err
	}
	mu.Lock()
	defer mu.Unlock()
	if perr != nil {
		return out, perr
	}
	return out, stopped
}

// flushTimeout bounds the wait for the generator's last records.
const flushTimeout = 30 * time.Second

// generateRounds generates until ctx ends: recs, then a round of a
// minute with seed+1, seed+2, ... Later rounds leave the catalog out, so
// the products stay those of recs (which the shop shows). It returns
// everything sent, with a nil error when ctx ended it.
func generateRounds(ctx context.Context, cfg Config, s profile.Serdes, recs []profile.Record, watch *watcher, lat *latency, status io.Writer) (sent, error) {
	total := sent{perCust: map[string]int64{}}
	for i := uint64(0); ; i++ {
		if i > 0 {
			recs = slices.DeleteFunc(pacedWorkload(cfg.Seed+i, cfg.Rate, produceRound, cfg.Customers, time.Now()),
				func(r profile.Record) bool { return r.Product != nil })
		}
		rcfg := cfg
		rcfg.Seed = cfg.Seed + i
		out, err := generate(ctx, rcfg, s, recs, watch, lat, status)
		total.events += out.events
		total.malformed += out.malformed
		for c, n := range out.perCust {
			total.perCust[c] += n
		}
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// createTopics creates the pipeline's topics (the erasure ones if t names
// them) and, for the browser demo (webhooks), the webhook dead-letter
// topic.
func createTopics(ctx context.Context, brokers []string, t profile.Topics, partitions int32, webhooks bool) error {
	topics := map[string]int32{
		t.Views: partitions, t.Purchases: partitions, t.Tickets: partitions, t.Customers: partitions,
		t.Products: 1, t.Updates: partitions, t.Triggers: partitions,
	}
	if webhooks {
		topics[t.Triggers+"-webhook-dlq"] = 1
	}
	if t.Erasures != "" {
		topics[t.Erasures], topics[t.ErasureAudit] = partitions, partitions
	}
	return demo.CreateTopicsKeeping(ctx, brokers, topics)
}

// watcher reads the outputs with read_committed and checks versions.
type watcher struct {
	cfg Config
	tp  profile.Topics
	dlq string

	mu       sync.Mutex
	last     map[string]int64 // customer -> last version seen
	updates  int
	triggers int
	dead     int
	bad      error
	changed  chan struct{}
	servers  []*serve.Server // get every trigger and profile update
}

func newWatcher(cfg Config, tp profile.Topics) *watcher {
	return &watcher{cfg: cfg, tp: tp, dlq: cfg.AppID + "-dlq", last: map[string]int64{}, changed: make(chan struct{}, 1)}
}

func (w *watcher) run(ctx context.Context) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(w.cfg.Brokers...),
		kgo.ConsumeTopics(w.tp.Updates, w.tp.Triggers, w.dlq),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	rc, err := avro.NewHTTPRegistryClient(w.cfg.Registry)
	if err != nil {
		return err
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		return err
	}
	updates, err := events.ProfileUpdateSerde(reg)
	if err != nil {
		return err
	}
	triggers, err := events.TriggerSerde(reg)
	if err != nil {
		return err
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		w.mu.Lock()
		for _, r := range fs.Records() {
			switch r.Topic {
			case w.dlq:
				w.dead++
			case w.tp.Triggers:
				w.triggers++
				if t, err := triggers.Decode(r.Topic, r.Value); err == nil {
					for _, srv := range w.servers {
						srv.Publish(t)
					}
				}
			case w.tp.Updates:
				w.updates++
				p, err := updates.Decode(r.Topic, r.Value)
				if err != nil {
					w.bad = errors.Join(w.bad, fmt.Errorf("profile update: %w", err))
					continue
				}
				if p.Version <= w.last[p.CustomerID] {
					w.bad = errors.Join(w.bad, fmt.Errorf("customer %s: version %d after %d: versions must strictly increase", p.CustomerID, p.Version, w.last[p.CustomerID]))
				}
				w.last[p.CustomerID] = p.Version
				for _, srv := range w.servers {
					srv.PublishProfile(p)
				}
			}
		}
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
}

// totals are the counts the operator view shows beside the workers'.
func (w *watcher) totals() journey.Totals {
	w.mu.Lock()
	defer w.mu.Unlock()
	return journey.Totals{Profiles: len(w.last), Triggers: w.triggers}
}

func (w *watcher) status() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("profiles=%d updates=%d triggers=%d dlq=%d", len(w.last), w.updates, w.triggers, w.dead)
}

// waitComplete waits until every customer of want is at that version
// (its valid events in the inputs) and the records of the inputs that do
// not decode are dead-lettered.
func (w *watcher) waitComplete(ctx context.Context, want map[string]int64, malformed int) error {
	for {
		w.mu.Lock()
		bad := w.bad
		done := w.dead >= malformed
		var behind []string
		for c, n := range want {
			switch v := w.last[c]; {
			case v > n:
				bad = errors.Join(bad, fmt.Errorf("customer %s: version %d, only %d valid events are in the inputs", c, v, n))
			case v < n:
				done = false
				if len(behind) < 3 {
					behind = append(behind, fmt.Sprintf("%s at %d/%d", c, v, n))
				}
			}
		}
		if w.dead > malformed {
			bad = errors.Join(bad, fmt.Errorf("%d dead letters, only %d malformed records are in the inputs", w.dead, malformed))
		}
		w.mu.Unlock()
		if bad != nil {
			return bad
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			sort.Strings(behind)
			return fmt.Errorf("demo: profiles did not catch up within -timeout: %s (e.g. %s): %w", w.status(), strings.Join(behind, ", "), ctx.Err())
		case <-w.changed:
		}
	}
}

// checkServing asks every address for up to 50 customers' profiles and
// waits until each answers 200 with the last version seen in Kafka: the
// owner from its state, the others by forwarding.
func (w *watcher) checkServing(ctx context.Context, addrs []string) error {
	w.mu.Lock()
	var sample []string
	for c := range w.last {
		sample = append(sample, c)
	}
	w.mu.Unlock()
	sort.Strings(sample)
	if len(sample) > 50 {
		sample = sample[:50]
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, addr := range addrs {
		// The API is protected: without the token, no profile.
		if len(sample) > 0 {
			if _, status, err := fetchProfile(ctx, client, addr, sample[0], ""); err != nil || status != http.StatusUnauthorized {
				return fmt.Errorf("demo: %s answered %s without a token: status %d (err %v), want 401", addr, sample[0], status, err)
			}
		}
		for _, c := range sample {
			w.mu.Lock()
			want := w.last[c]
			w.mu.Unlock()
			for {
				got, status, err := fetchProfile(ctx, client, addr, c, w.cfg.Token)
				if err == nil && status == http.StatusOK && got.Version == want && got.CustomerID == c {
					break
				}
				if err == nil && status == http.StatusOK && got.Version > want {
					return fmt.Errorf("demo: %s serves %s at version %d, beyond the %d committed", addr, c, got.Version, want)
				}
				if ctx.Err() != nil {
					return fmt.Errorf("demo: %s never served %s at version %d (last: status %d version %d err %v)", addr, c, want, status, got.Version, err)
				}
				// Served state follows the commit it belongs to by a moment.
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	return nil
}

// checkGlobals asks every worker for the last product written, through
// GET /v1/globals: any worker answers from its copy of the global table.
func checkGlobals(ctx context.Context, addrs []string, table string, recs []profile.Record, token string) error {
	var last *events.Product
	for _, r := range recs {
		if r.Product != nil {
			last = r.Product
		}
	}
	if last == nil {
		return nil
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, addr := range addrs {
		url := "http://" + addr + "/v1/globals/" + table + "/" + last.ProductID
		for {
			var got events.Product
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			status := 0
			if err == nil {
				status = resp.StatusCode
				err = json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
			}
			if err == nil && status == http.StatusOK && got.Name == last.Name {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("demo: %s never served %s (last: status %d name %q err %v)", addr, url, status, got.Name, err)
			}
			// The global table follows its topic by a moment.
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

func fetchProfile(ctx context.Context, cl *http.Client, addr, id, token string) (events.ProfileUpdate, int, error) {
	var p events.ProfileUpdate
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/profiles/"+id, nil)
	if err != nil {
		return p, 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return p, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return p, resp.StatusCode, nil
	}
	err = json.NewDecoder(resp.Body).Decode(&p)
	return p, resp.StatusCode, err
}

// randomToken is 32 random bytes in hex.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("demo: token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func (w *watcher) result(s sent, lat *latency) Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Result{Events: s.events, Profiles: len(w.last), Updates: w.updates, Triggers: w.triggers, DeadLetters: w.dead, P99: lat.p99()}
}

func withDefaults(c Config) Config {
	if c.AppID == "" {
		c.AppID = "weir-profiles"
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Rate <= 0 {
		c.Rate = 2000
	}
	if c.Customers <= 0 {
		c.Customers = 1000
	}
	if c.Partitions <= 0 {
		c.Partitions = 6
	}
	if c.Status <= 0 {
		c.Status = 2 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	return c
}
