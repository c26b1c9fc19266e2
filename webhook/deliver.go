package webhook

import (
	"fmt"
	"time"

	"github.com/weirstream/weir/events"
	"go.uber.org/zap"
)

// deliver sends the trigger to one endpoint until it is delivered or
// dead-lettered, retrying with backoff. If the partition's context ends
// first it gives up without finishing: the record stays uncommitted and
// is delivered again after the restart or rebalance.
func (d *Deliverer) deliver(p *partition, r record, tr *events.Trigger, body []byte, ep Endpoint, start time.Time) {
	defer d.release()
	typ := string(tr.Type)
	for n := 1; ; n++ {
		a := d.send.post(p.ctx, ep, tr, body, n)
		if p.ctx.Err() != nil {
			return
		}
		if a.outcome == delivered {
			d.m.deliveries.WithLabelValues(typ, resultDelivered).Inc()
			d.m.seconds.WithLabelValues(resultDelivered).Observe(d.o.now().Sub(start).Seconds())
			d.finish(p, r.offset)
			return
		}
		if a.outcome == retryable && n < d.o.MaxAttempts {
			d.m.deliveries.WithLabelValues(typ, resultRetry).Inc()
			wait := d.retry.delay(n, a.retryAfter)
			d.log.Debug("delivery failed; retrying", zap.String("url", ep.URL), zap.String("trigger_id", tr.TriggerID),
				zap.Int("attempt", n), zap.Duration("wait", wait), zap.Error(a.err))
			if !sleep(p.ctx, wait) {
				return
			}
			continue
		}
		err := a.err
		if a.outcome == retryable {
			err = fmt.Errorf("gave up after %d attempts: %w", n, a.err)
		}
		d.log.Warn("delivery failed; dead-lettering", zap.String("url", ep.URL), zap.String("trigger_id", tr.TriggerID), zap.Int("attempts", n), zap.Error(err))
		if !d.deadLetter(p, r, deadLetterHeaders(ep.URL, err, n)) {
			return
		}
		d.m.deliveries.WithLabelValues(typ, resultDeadLettered).Inc()
		d.m.seconds.WithLabelValues(resultDeadLettered).Observe(d.o.now().Sub(start).Seconds())
		d.finish(p, r.offset)
		return
	}
}

// deadLetterUndecodable sends a record that did not decode to the
// dead-letter topic.
func (d *Deliverer) deadLetterUndecodable(p *partition, r record, err error, start time.Time) {
	defer d.release()
	d.log.Warn("trigger does not decode; dead-lettering", zap.Error(err))
	if !d.deadLetter(p, r, deadLetterHeaders("", err, 0)) {
		return
	}
	d.m.deliveries.WithLabelValues(typeUndecodable, resultDeadLettered).Inc()
	d.m.seconds.WithLabelValues(resultDeadLettered).Observe(d.o.now().Sub(start).Seconds())
	d.finish(p, r.offset)
}

// deadLetter produces r to the dead-letter topic, retrying until Kafka
// takes it or the partition's context ends (then false: the record stays
// uncommitted, so nothing is dropped).
func (d *Deliverer) deadLetter(p *partition, r record, hs []header) bool {
	for n := 1; ; n++ {
		err := d.kafka.deadLetter(p.ctx, r, hs)
		if err == nil {
			return true
		}
		if p.ctx.Err() != nil {
			return false
		}
		wait := d.retry.delay(n, 0)
		d.log.Warn("dead-letter produce failed; retrying", zap.String("topic", d.o.DeadLetterTopic), zap.Duration("wait", wait), zap.Error(err))
		if !sleep(p.ctx, wait) {
			return false
		}
	}
}
