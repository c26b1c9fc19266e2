package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/processor"
	"go.uber.org/zap"
)

// Headers a dead letter carries besides the original record's.
const (
	HeaderDLQURL      = "weir-webhook-url" // the endpoint; "" for a record that did not decode
	HeaderDLQError    = "weir-webhook-error"
	HeaderDLQAttempts = "weir-webhook-attempts"
)

// ErrRunning: Run was called on a deliverer already running or run.
var ErrRunning = errors.New("webhook: Run called twice")

// Deliverer consumes triggers and delivers them. Build it with New, call
// Run, then Close.
type Deliverer struct {
	o     Options
	serde codec.Serde[events.Trigger]
	kafka *kafka
	send  *sender
	retry *backoff
	m     *metrics
	log   *zap.Logger
	slots chan struct{} // one per delivery under way, MaxInFlight of them
	maxEP int           // most endpoints one trigger type goes to
	ran   atomic.Bool
	wg    sync.WaitGroup // deliveries

	mu      sync.Mutex
	parts   map[partitionKey]*partition
	stopped bool
}

// partition is an assigned partition: its tracker, and a context that
// ends when it is revoked or Run ends, abandoning its deliveries.
type partition struct {
	key    partitionKey
	t      *tracker
	ctx    context.Context
	cancel context.CancelFunc
}

// New checks opts and connects to Kafka. Mistakes fail here with
// ErrConfig, naming what to change. It waits up to 15 s (or until ctx
// ends) for topics created a moment ago to show.
func New(ctx context.Context, opts Options) (*Deliverer, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	kopts, err := processor.ClientOpts(append(o.Kafka, processor.Logger(o.Logger))...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	d := &Deliverer{
		o: o, serde: o.Serde, log: o.Logger,
		send:  &sender{client: o.HTTPClient, timeout: o.RequestTimeout, now: o.now},
		retry: &backoff{initial: o.InitialBackoff, max: o.MaxBackoff, rand: o.rand},
		slots: make(chan struct{}, o.MaxInFlight),
		parts: map[partitionKey]*partition{},
	}
	if d.serde == nil {
		if d.serde, err = events.TriggerSerde(o.Registry); err != nil {
			return nil, fmt.Errorf("%w: trigger serde: %w", ErrConfig, err)
		}
	}
	for _, t := range []events.TriggerType{events.CartAbandoned, events.AtRisk, events.HighIntent} {
		d.maxEP = max(d.maxEP, len(d.endpoints(t)))
	}
	if d.m, err = newMetrics(o.Metrics, func() int { return len(d.slots) }); err != nil {
		return nil, fmt.Errorf("%w: metrics: %w", ErrConfig, err)
	}
	if err := checkTopics(ctx, o); err != nil {
		return nil, err
	}
	d.kafka, err = newKafka(ctx, kopts, o, groupHooks{assigned: d.assigned, revoked: d.revoked, lost: d.lost})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Run delivers until ctx ends, then abandons the deliveries under way
// (not committed, so the next run redoes them), commits what finished
// and returns. It returns an error only when it cannot go on.
func (d *Deliverer) Run(ctx context.Context) error {
	if d.ran.Swap(true) {
		return ErrRunning
	}
	// Ending ctx ends every partition's context at once, so deliveries,
	// waits for slots and registry retries all stop.
	defer context.AfterFunc(ctx, d.stopAll)()
	commitCtx, stopCommits := context.WithCancel(context.Background())
	committerDone := make(chan struct{})
	go func() {
		defer close(committerDone)
		d.commitEvery(commitCtx)
	}()
	err := d.consume(ctx)
	d.stopAll()
	d.wg.Wait()
	stopCommits()
	<-committerDone
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := d.commit(fctx); cerr != nil {
		err = errors.Join(err, fmt.Errorf("webhook: final commit: %w", cerr))
	}
	return err
}

// Close leaves the consumer group and disconnects. Call it after Run
// has returned.
func (d *Deliverer) Close() {
	d.stopAll()
	d.kafka.close()
}

// consume polls and starts deliveries. When MaxInFlight deliveries are
// under way it waits for a slot instead of polling: fetching pauses.
func (d *Deliverer) consume(ctx context.Context) error {
	for ctx.Err() == nil {
		free := cap(d.slots) - len(d.slots)
		var batch []bound
		err := d.kafka.poll(ctx, max(1, free/max(1, d.maxEP)), func(recs []record) {
			d.mu.Lock()
			defer d.mu.Unlock()
			for _, r := range recs {
				if p := d.parts[partitionKey{r.topic, r.partition}]; p != nil {
					batch = append(batch, bound{p, r})
				}
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("webhook: poll: %w", err)
		}
		for _, b := range batch {
			d.dispatch(ctx, b.p, b.r)
		}
	}
	return nil
}

// bound is a record with the partition assignment it was read under.
type bound struct {
	p *partition
	r record
}

// dispatch decodes r and starts its deliveries, one per matching
// endpoint (or its dead letter if it does not decode). It waits for free
// slots; if ctx or the partition ends meanwhile, the deliveries not
// started keep the record uncommitted.
func (d *Deliverer) dispatch(ctx context.Context, p *partition, r record) {
	tr, err := d.decode(p.ctx, r)
	if p.ctx.Err() != nil {
		return
	}
	var eps []Endpoint
	var body []byte
	if err == nil {
		eps = d.endpoints(tr.Type)
		if body, err = json.Marshal(tr); err != nil {
			err = fmt.Errorf("encode as JSON: %w", err)
		}
	}
	n := len(eps)
	if err != nil {
		n = 1 // the dead letter
	}
	d.mu.Lock()
	added := p.t.add(r.offset, n)
	d.mu.Unlock()
	if !added || n == 0 {
		return
	}
	start := d.o.now()
	if err != nil {
		if !d.take(ctx, p) {
			return
		}
		go d.deadLetterUndecodable(p, r, err, start)
		return
	}
	for _, ep := range eps {
		if !d.take(ctx, p) {
			return
		}
		go d.deliver(p, r, &tr, body, ep, start)
	}
}

// take waits for a delivery slot and counts the delivery in d.wg.
func (d *Deliverer) take(ctx context.Context, p *partition) bool {
	select {
	case d.slots <- struct{}{}:
		d.wg.Add(1)
		return true
	case <-ctx.Done():
	case <-p.ctx.Done():
	}
	return false
}

// release frees a delivery's slot.
func (d *Deliverer) release() {
	<-d.slots
	d.wg.Done()
}

// decode decodes r, waiting out a registry outage (the record is not at
// fault) until ctx ends. Other errors are the record's: dead-letter it.
func (d *Deliverer) decode(ctx context.Context, r record) (events.Trigger, error) {
	for n := 1; ; n++ {
		tr, err := codec.DecodeContext(ctx, d.serde, r.topic, r.value)
		if err == nil || !errors.Is(err, codec.ErrRegistryUnavailable) || ctx.Err() != nil {
			if err != nil {
				err = fmt.Errorf("decode %s/%d/%d: %w", r.topic, r.partition, r.offset, err)
			}
			return tr, err
		}
		wait := d.retry.delay(n, 0)
		d.log.Warn("schema registry unavailable; waiting", zap.Duration("for", wait), zap.Error(err))
		if !sleep(ctx, wait) {
			return tr, ctx.Err()
		}
	}
}

// endpoints are those that trigger type t goes to.
func (d *Deliverer) endpoints(t events.TriggerType) []Endpoint {
	var out []Endpoint
	for _, e := range d.o.Endpoints {
		if e.matches(t) {
			out = append(out, e)
		}
	}
	return out
}

// finish marks one delivery of the record at offset finished.
func (d *Deliverer) finish(p *partition, offset int64) {
	d.mu.Lock()
	p.t.done(offset)
	d.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// deadLetterHeaders are what a dead letter adds to the record's headers.
func deadLetterHeaders(url string, err error, attempts int) []header {
	return []header{
		{HeaderDLQURL, []byte(url)},
		{HeaderDLQError, []byte(err.Error())},
		{HeaderDLQAttempts, []byte(strconv.Itoa(attempts))},
	}
}
