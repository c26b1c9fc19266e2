package collect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/weirstream/weir/processor"
	"go.uber.org/zap"
)

// Collector takes events over HTTP and writes them to Kafka. Build it
// with New, serve Handler, and Close it to commit what is queued.
type Collector struct {
	o       Options
	routes  map[string]Route
	schemas *schemas
	dedup   *dedup
	limits  *limiter
	writers []*writer // one transactional producer each
	next    atomic.Uint32
	m       *metrics
	log     *zap.Logger
	now     func() time.Time

	wsMu    sync.Mutex
	wsConns map[*websocket.Conn]context.CancelFunc // nil once closed
}

// New checks opts, looks up every route's schema and connects to Kafka.
// Mistakes fail here, naming what to change. It waits up to 15 s (or
// until ctx ends) for topics created a moment ago to show.
func New(ctx context.Context, opts Options) (*Collector, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	kopts, err := processor.ClientOpts(append(o.Kafka, processor.Logger(o.Logger))...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c := &Collector{
		o:      o,
		routes: map[string]Route{},
		dedup:  newDedup(o.DedupWindow, o.DedupMaxIDs),
		limits: newLimiter(o.RatePerClient, o.RateBurst),
		log:    o.Logger,
		now:    time.Now,

		wsConns: map[*websocket.Conn]context.CancelFunc{},
	}
	c.schemas = &schemas{reg: o.Registry, refresh: o.SchemaRefresh, now: c.now, log: o.Logger, byType: map[string]*typeSchema{}}
	for _, r := range o.Routes {
		c.routes[r.Type] = r
	}
	if c.m, err = newMetrics(o.Metrics, c.dedup.size); err != nil {
		return nil, fmt.Errorf("%w: metrics: %w", ErrConfig, err)
	}
	if err := c.schemas.load(ctx, o.Routes); err != nil {
		return nil, err
	}
	if err := checkTopics(ctx, o.Kafka, o.Routes); err != nil {
		return nil, err
	}
	perWriter := (o.MaxPendingEvents + o.Producers - 1) / o.Producers
	for i := range o.Producers {
		id := fmt.Sprintf("%s-%d", o.TransactionalID, i)
		w := newWriter(kopts, id, o.AckTimeout, max(perWriter, o.MaxBatchEvents), o.Logger.With(zap.String("transactional_id", id)), c.m)
		c.writers = append(c.writers, w)
		// A producer that cannot start (transactions refused, no ACL for
		// the id) would otherwise show only as a 503 on every request.
		if err := w.start(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("%w: transactional producer %q: %w (check -transactional-id and the cluster's transaction ACLs)", ErrConfig, id, err)
		}
	}
	return c, nil
}

// topicWait bounds how long start-up waits for the routes' topics.
const topicWait = 15 * time.Second

// checkTopics makes sure every route's topic exists: a producer would
// otherwise retry a missing one until each request timed out.
func checkTopics(ctx context.Context, conn []processor.Opt, routes []Route) error {
	ctx, cancel := context.WithTimeout(ctx, topicWait)
	defer cancel()
	var names []string
	for _, r := range routes {
		names = append(names, r.Topic)
	}
	bad, err := processor.CheckTopics(ctx, names, conn...)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var errs []error
	for _, r := range routes {
		switch err := bad[r.Topic]; {
		case errors.Is(err, processor.ErrTopicMissing):
			errs = append(errs, fmt.Errorf("%w: event type %q: topic %s does not exist: create it (weir produce -topics-only creates the profiles pipeline's)", ErrConfig, r.Type, r.Topic))
		case err != nil:
			errs = append(errs, fmt.Errorf("%w: event type %q: topic %s: %w", ErrConfig, r.Type, r.Topic, err))
		}
	}
	return errors.Join(errs...)
}

// Close ends the WebSockets, stops taking events, commits what is
// queued and disconnects. Shut the HTTP server down first, so requests
// in progress get their answers.
func (c *Collector) Close() {
	c.closeWebSockets()
	for _, w := range c.writers {
		w.close()
	}
}

// writeRecords hands recs to a producer, the next in turn that takes
// them: one that is full, or waiting after a failure, passes them on.
// While one producer's transaction commits, the next request's can run.
func (c *Collector) writeRecords(recs []record) error {
	start := int(c.next.Add(1))
	var err error
	for i := range c.writers {
		err = c.writers[(start+i)%len(c.writers)].write(recs)
		if !refused(err) {
			return err
		}
	}
	return err
}

// outcome is what one batch came to.
type outcome struct {
	status     int
	err        string
	accepted   []string
	duplicates []string
	rejected   []Rejection
	retry      []string
	retryAfter time.Duration
}

// process validates, deduplicates and writes one batch from site. It
// answers after the batch's fate in Kafka is known.
func (c *Collector) process(ctx context.Context, site, client string, body []byte, a arrival) outcome {
	b, err := decodeBody(body)
	if err != nil {
		return outcome{status: http.StatusBadRequest, err: err.Error()}
	}
	return c.processBatch(ctx, site, client, b, a)
}

func (c *Collector) processBatch(ctx context.Context, site, client string, b batchBody, a arrival) outcome {
	if len(b.Events) > c.o.MaxBatchEvents {
		return outcome{status: http.StatusRequestEntityTooLarge,
			err: fmt.Sprintf("%d events in one batch: send at most %d", len(b.Events), c.o.MaxBatchEvents)}
	}
	var err error
	if a.sentAt, err = parseTime(b.SentAt); err != nil {
		return outcome{status: http.StatusBadRequest, err: "sent_at: not an RFC 3339 time: " + err.Error()}
	}
	if wait := c.limits.take(site+"\x00"+client, len(b.Events), a.received); wait > 0 {
		c.m.events.WithLabelValues(resultRetry).Add(float64(len(b.Events)))
		return outcome{status: http.StatusTooManyRequests, err: "rate limit: slow down", retryAfter: wait}
	}

	var out outcome
	var recs []record
	first := map[string]bool{} // ids of this batch, so a repeat inside it writes once
	var repeats []string
	for _, raw := range b.Events {
		ev, rj := decodeEvent(raw)
		if rj == nil {
			var rec record
			var err error
			if rec, rj, err = c.check(ctx, &ev, a); err != nil {
				return outcome{status: http.StatusServiceUnavailable, err: "schema registry unavailable", retryAfter: 5 * time.Second}
			}
			if rj == nil {
				if first[ev.ID] {
					repeats = append(repeats, ev.ID)
					continue
				}
				first[ev.ID] = true
				recs = append(recs, rec)
				continue
			}
		}
		out.rejected = append(out.rejected, *rj)
	}

	ok, werr := c.write(site, recs, &out)
	for _, id := range repeats {
		if ok[id] {
			out.duplicates = append(out.duplicates, id)
		}
	}
	c.m.events.WithLabelValues(resultAccepted).Add(float64(len(out.accepted)))
	c.m.events.WithLabelValues(resultDuplicate).Add(float64(len(out.duplicates)))
	c.m.events.WithLabelValues(resultRejected).Add(float64(len(out.rejected)))
	c.m.events.WithLabelValues(resultRetry).Add(float64(len(out.retry)))
	out.accepted = append(out.accepted, out.duplicates...)
	var un *unavailable
	switch {
	case errors.Is(werr, ErrBusy):
		out.status, out.err, out.retryAfter = http.StatusTooManyRequests, werr.Error(), time.Second
	case errors.As(werr, &un):
		out.status, out.err, out.retryAfter = http.StatusServiceUnavailable, werr.Error(), un.retryAfter
	case werr != nil:
		out.status, out.err, out.retryAfter = http.StatusServiceUnavailable, werr.Error(), time.Second
	case len(out.rejected) > 0:
		out.status = http.StatusBadRequest
	default:
		out.status = http.StatusOK
	}
	return out
}

// check routes and builds one event. An error means its schema could
// not be had (a registry outage): the request is to be retried.
func (c *Collector) check(ctx context.Context, ev *wireEvent, a arrival) (record, *Rejection, error) {
	r, ok := c.routes[ev.Type]
	if !ok {
		return record{}, &Rejection{ID: ev.ID, Field: "type", Error: fmt.Sprintf("unknown event type %q", ev.Type)}, nil
	}
	ts, err := c.schemas.get(ctx, r)
	if err != nil {
		return record{}, nil, err
	}
	rec, rj := build(ev, r, ts, a, c.o.MaxEventAge)
	return rec, rj, nil
}

// write claims recs' ids, writes the new ones in one transaction and
// waits for those another request is writing. It fills out's accepted,
// duplicates and retry lists and returns the ids now in Kafka.
func (c *Collector) write(site string, recs []record, out *outcome) (map[string]bool, error) {
	inKafka := map[string]bool{}
	var mine []record
	var keys []string
	type waiting struct {
		rec record
		ch  <-chan struct{}
	}
	var waits []waiting
	now := c.now()
	for _, r := range recs {
		switch res, ch := c.dedup.claim(site+"\x00"+r.id, now); res {
		case claimNew:
			mine = append(mine, r)
			keys = append(keys, site+"\x00"+r.id)
		case claimDuplicate:
			out.duplicates = append(out.duplicates, r.id)
			inKafka[r.id] = true
		case claimWait:
			waits = append(waits, waiting{r, ch})
		}
	}
	var werr error
	if len(mine) > 0 {
		werr = c.writeRecords(mine)
		c.dedup.finish(keys, werr == nil, c.now())
		for _, r := range mine {
			if werr == nil {
				out.accepted = append(out.accepted, r.id)
				inKafka[r.id] = true
			} else {
				out.retry = append(out.retry, r.id)
			}
		}
	}
	// Ids another request was writing: the outcome is theirs. If theirs
	// failed, this request's client retries too.
	for _, wt := range waits {
		<-wt.ch // the writer answers every request (writer.write)
		key := site + "\x00" + wt.rec.id
		switch res, _ := c.dedup.claim(key, c.now()); res {
		case claimDuplicate:
			out.duplicates = append(out.duplicates, wt.rec.id)
			inKafka[wt.rec.id] = true
		case claimNew:
			c.dedup.finish([]string{key}, false, c.now())
			fallthrough
		default:
			out.retry = append(out.retry, wt.rec.id)
			if werr == nil {
				werr = &unavailable{retryAfter: time.Second, err: errors.New("an earlier request with the same event ids failed")}
			}
		}
	}
	return inKafka, werr
}
