package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/bench"
	"github.com/weirstream/weir/profile"
)

// paced runs each system on fresh topics fed at half the lower of the
// systems' throughputs, with event time = wall-clock time, and measures
// end-to-end latency: the output's LogAppendTime minus the event time of
// the event that made the version.
func (h *harness) paced(ctx context.Context, runID string, systems []*system) error {
	rate := math.Inf(1)
	for _, s := range systems {
		switch {
		case s.res.Throughput > 0:
			rate = min(rate, s.res.Throughput)
		case s.res.ThroughputWithStartup > 0: // a drain too short to time
			rate = min(rate, s.res.ThroughputWithStartup)
		}
	}
	if math.IsInf(rate, 1) {
		return errors.New("no throughput measured: no rate to pace at")
	}
	rate = math.Round(rate / 2)
	n := int(rate * float64(h.cfg.pacedSecs))
	var errs []error
	for _, s := range systems {
		if err := h.pacedOne(ctx, runID, s, rate, n); err != nil {
			s.res.Errors = append(s.res.Errors, "paced: "+err.Error())
			errs = append(errs, fmt.Errorf("%s: %w", s.res.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (h *harness) pacedOne(ctx context.Context, runID string, s *system, rate float64, n int) error {
	t := bench.NewTopics(runID + "-paced-" + s.res.Name)
	if err := bench.CreateTopics(ctx, h.adm, t, h.cfg.partitions, true); err != nil {
		return err
	}
	app := runID + "-paced-" + s.res.Name
	var ps *system
	switch s.res.Name {
	case "weir":
		ps = h.newSystem(s.res.Name, app, t.Updates, s.dec, h.weirArgv(t, app))
	default:
		ps = h.newSystem(s.res.Name, app, t.KSProfiles, s.dec, h.ksArgv(t, app))
	}
	gen := func(start time.Time, gap time.Duration) []profile.Record {
		return profile.Generate(h.cfg.seed+1, n, profile.GenOptions{Customers: h.cfg.customers, Start: start, MeanGap: gap, OutOfOrder: -1, Late: -1})
	}
	enc := func(r profile.Record) ([]byte, []byte, error) { return r.Encode(h.serdes) }
	// Find the mean gap that spreads n events over the wanted time (the
	// generator's funnels make the actual gap differ from MeanGap).
	want := time.Duration(float64(n) / rate * float64(time.Second))
	gap := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for range 3 {
		recs := gen(start, gap)
		span := recs[len(recs)-1].Time.Sub(start)
		if span <= 0 {
			break
		}
		gap = max(time.Duration(float64(gap)*float64(want)/float64(span)), time.Microsecond)
	}
	// Table rows first, then the process, then the events in real time.
	wl, err := bench.Build(gen(start, gap), t, enc, h.cfg.seed, 0)
	if err != nil {
		return err
	}
	rows := 0
	for rows < len(wl.Records) && wl.Records[rows].Topic != t.Views && wl.Records[rows].Topic != t.Purchases && wl.Records[rows].Topic != t.Tickets {
		rows++
	}
	if err := bench.Produce(ctx, h.cl, wl.Records[:rows]); err != nil {
		return err
	}
	say("%s: paced run at %.0f events/s for %ds (%d events)", s.res.Name, rate, h.cfg.pacedSecs, n)
	p, err := h.start(ps.res.Name+"-paced", ps.argv(), ps.log)
	if err != nil {
		return err
	}
	defer p.Stop(stopGrace)
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	_, _, err = p.WaitLine(rctx, 0, s.res.Name+": running")
	cancel()
	if err != nil {
		say("%s: %v (pacing anyway)", s.res.Name, err)
	}
	// Event times from now on.
	start = time.Now().Add(200 * time.Millisecond)
	wl, err = bench.Build(gen(start, gap), t, enc, h.cfg.seed, 0)
	if err != nil {
		return err
	}
	if err := pace(ctx, h.cl, wl.Records[rows:]); err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, h.cfg.drainTimeout)
	defer cancel()
	if _, err := bench.WaitDrained(dctx, h.adm, app, t.Inputs(), 100*time.Millisecond, p.Exited(), nil); err != nil {
		return err
	}
	sample := p.Sample()
	if err := p.Stop(stopGrace); err != nil {
		s.res.Errors = append(s.res.Errors, err.Error())
	}
	out, err := bench.ReadOutput(ctx, h.brokers, ps.out, ps.dec, 3*time.Second)
	if err != nil {
		return err
	}
	lat := bench.Latencies(out.Updates, wl.EventTimes)
	r := s.res
	r.PacedRate, r.PacedEvents, r.PacedUpdates = rate, wl.Events, len(lat)
	r.LatencyP50Ms, r.LatencyP99Ms, r.LatencyP999Ms = bench.Percentile(lat, 0.5), bench.Percentile(lat, 0.99), bench.Percentile(lat, 0.999)
	r.LatencyMaxMs = bench.Percentile(lat, 1)
	r.PacedPeakRSS, r.PacedCPUSeconds = sample.PeakRSS, sample.CPUSeconds
	say("%s: paced latency p50 %.1fms p99 %.1fms p99.9 %.1fms (%d updates)", r.Name, r.LatencyP50Ms, r.LatencyP99Ms, r.LatencyP999Ms, len(lat))
	return nil
}

// pace produces each record when the wall clock reaches its timestamp.
func pace(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	var f bench.Failures
	timer := time.NewTimer(0)
	defer timer.Stop()
	for _, r := range recs {
		if d := time.Until(r.Timestamp); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
		cl.Produce(ctx, r, f.Promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return f.Err()
}
