package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/weirstream/weir/bench"
	"github.com/weirstream/weir/profile"
)

// scaling drains the preloaded input again with 1, 2, 4... Weir workers
// (-scale-workers), then a workload of -one-partition-events with every
// event topic in one partition drained by one worker: what a hot
// partition alone can do.
func (h *harness) scaling(ctx context.Context, runID string) {
	for _, n := range h.cfg.scale {
		if ctx.Err() != nil {
			return
		}
		name := fmt.Sprintf("%d worker", n)
		if n > 1 {
			name += "s"
		}
		h.res.Scaling = append(h.res.Scaling, h.scaleRun(ctx, name, fmt.Sprintf("%s-scale%d", runID, n), h.topics, n, h.cfg.partitions))
	}
	if ctx.Err() != nil || h.cfg.onePartition == 0 {
		return
	}
	t := bench.NewTopics(runID + "-onepart")
	sr := &bench.ScaleRun{Name: "one partition, one worker", Workers: 1, Partitions: 1}
	if err := h.preloadOnePartition(ctx, t); err != nil {
		sr.Error = err.Error()
		say("scaling: %s: %v", sr.Name, err)
		h.res.Scaling = append(h.res.Scaling, sr)
		return
	}
	h.res.Scaling = append(h.res.Scaling, h.scaleRun(ctx, sr.Name, runID+"-onepart", t, 1, 1))
}

// preloadOnePartition writes the workload's first -one-partition-events
// events (same seed and customers) to topics t, each with one partition.
func (h *harness) preloadOnePartition(ctx context.Context, t bench.Topics) error {
	if err := bench.CreateTopics(ctx, h.adm, t, 1, false); err != nil {
		return err
	}
	recs := profile.Generate(h.cfg.seed, h.cfg.onePartition, profile.GenOptions{Customers: h.cfg.customers})
	wl, err := bench.Build(recs, t, func(r profile.Record) ([]byte, []byte, error) { return r.Encode(h.serdes) }, h.cfg.seed, h.cfg.badEvery)
	if err != nil {
		return err
	}
	say("scaling: preloading %d records into one partition per topic (%s)", len(wl.Records), t.Prefix)
	return bench.Produce(ctx, h.cl, wl.Records)
}

// scaleRun starts n workers of a fresh app on topics t and times them
// draining the inputs.
func (h *harness) scaleRun(ctx context.Context, name, app string, t bench.Topics, n int, partitions int32) *bench.ScaleRun {
	sr := &bench.ScaleRun{Name: name, Workers: n, Partitions: partitions}
	if err := h.scaleDrain(ctx, sr, app, t); err != nil {
		sr.Error = err.Error()
		say("scaling: %s: %v", name, err)
	}
	return sr
}

func (h *harness) scaleDrain(ctx context.Context, sr *bench.ScaleRun, app string, t bench.Topics) error {
	say("scaling: %s: draining with %d worker(s)", sr.Name, sr.Workers)
	var procs []*bench.Process
	anyExited := make(chan struct{})
	var once sync.Once
	defer func() { bench.StopAll(stopGrace, procs...) }()
	var cpu *bench.CPUCollector
	for i := range sr.Workers {
		stateDir := filepath.Join(h.work, fmt.Sprintf("%s-state-%d", app, i))
		os.RemoveAll(stateDir)
		argv := h.weirWorkerArgv(t, app, stateDir, fmt.Sprintf("%s-%d", app, i))
		if sr.Partitions == 1 && i == 0 {
			// Where does a partition alone spend its time?
			var err error
			if argv, cpu, err = h.profiled(argv); err != nil {
				return err
			}
			if cpu != nil {
				defer cpu.Stop(0)
			}
		}
		p, err := h.start(fmt.Sprintf("weir-%s-%d", app, i), argv, filepath.Join(h.work, fmt.Sprintf("%s-%d.log", app, i)))
		if err != nil {
			return err
		}
		procs = append(procs, p)
		go func() {
			select {
			case <-p.Exited():
				once.Do(func() { close(anyExited) })
			case <-ctx.Done():
			}
		}()
	}
	dctx, cancel := context.WithTimeout(ctx, h.cfg.drainTimeout)
	defer cancel()
	var last bench.Progress
	d, err := bench.WaitDrained(dctx, h.adm, app, t.Inputs(), 50*time.Millisecond, anyExited, func(p bench.Progress) { last = p })
	var cpuSecs float64
	for _, p := range procs {
		s := p.Sample()
		cpuSecs += s.CPUSeconds
		sr.PeakRSSBytes += s.PeakRSS
	}
	if err != nil {
		return err
	}
	for _, p := range procs {
		for _, l := range p.Lines() {
			if l.Text == "weir: fetching" && l.At.Before(d.FirstCommit) {
				d.FirstCommit = l.At
				break
			}
		}
	}
	sr.Events = last.Total
	sr.DrainSeconds = d.Done.Sub(d.FirstCommit).Seconds()
	if sr.DrainSeconds > 0 {
		sr.Throughput = float64(sr.Events) / sr.DrainSeconds
	}
	sr.CPUSeconds = cpuSecs
	if sr.Events > 0 {
		sr.CPUPer1000Events = cpuSecs / float64(sr.Events) * 1000
	}
	if cpu != nil {
		cpu.Stop(5 * time.Second)
		path, b, err := h.saveProfile(cpu, app, d.FirstCommit, d.Done)
		if err != nil {
			say("scaling: %s: CPU profile: %v", sr.Name, err)
		}
		sr.CPUProfile, sr.CPUBreakdown = path, b
	}
	say("scaling: %s: %d events in %.1fs (%.0f events/s), CPU %.1fs (%.3f s per 1000 events)",
		sr.Name, sr.Events, sr.DrainSeconds, sr.Throughput, cpuSecs, sr.CPUPer1000Events)
	return nil
}
