package profiledemo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/weirstream/weir/internal/journey"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/serve"
	"github.com/weirstream/weir/topology"
)

// worker is one worker of the demo with its HTTP API.
type worker struct {
	index int
	name  string
	app   *processor.App
	srv   *serve.Server
	http  *http.Server
	addr  string
	rec   *journey.Recorder // nil without the browser demo
	stop  context.CancelFunc
	done  chan error // the worker's result, once; halt puts it back
}

// workerSet is the demo's workers. It is the journey.Workers of the
// browser demo, whose operator view can stop one.
type workerSet struct {
	mu      sync.Mutex
	ws      []*worker
	stopped map[int]bool
}

// startWorkers starts n workers of topo, each with its HTTP API (worker
// 0 on cfg.HTTP if set), their contexts derived from ctx.
func startWorkers(ctx context.Context, cfg Config, topo *topology.Topology, serdes profile.Serdes, tp profile.Topics, dir string, lat *latency, op *journey.Operator) (*workerSet, error) {
	set := &workerSet{stopped: map[int]bool{}}
	for i := range cfg.Workers {
		listen := "127.0.0.1:0"
		if i == 0 && cfg.HTTP != "" {
			listen = cfg.HTTP
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			set.stopAll()
			return nil, fmt.Errorf("demo: http listen %s: %w (choose another address for worker 0's API with -http host:port)", listen, err)
		}
		addr := ln.Addr().String()
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		metrics := Fanout{lat, serve.NewMetrics(reg)}
		var rec *journey.Recorder
		if op != nil {
			rec = op.Recorder()
			metrics = append(metrics, rec)
		}
		name := fmt.Sprintf("demo-%d", i)
		app, err := processor.New(topo,
			processor.SeedBrokers(cfg.Brokers...),
			processor.StateDir(filepath.Join(dir, fmt.Sprintf("worker-%d", i))),
			processor.InstanceID(name),
			processor.AdvertisedAddress(addr),
			processor.Logger(cfg.Log.With(zap.Int("worker", i))),
			processor.WithMetrics(metrics),
			processor.KafkaClientMetrics(reg),
		)
		if err != nil {
			ln.Close()
			set.stopAll()
			return nil, err
		}
		srv := serve.New(app, serve.Options{Self: addr, Gatherer: reg, Auth: &serve.Auth{Tokens: []string{cfg.Token}}, ForwardToken: cfg.Token})
		srv.ServeGlobals(app, serve.GlobalTable{Name: tp.Products, JSON: func(b []byte) (any, error) {
			return serdes.Product.Decode(tp.Products, b)
		}})
		hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
		go hs.Serve(ln)
		wctx, stop := context.WithCancel(ctx)
		w := &worker{index: i, name: name, app: app, srv: srv, http: hs, addr: addr, rec: rec, stop: stop, done: make(chan error, 1)}
		go func() { w.done <- app.Run(wctx) }()
		set.ws = append(set.ws, w)
	}
	return set, nil
}

// List implements journey.Workers.
func (s *workerSet) List() []journey.Worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]journey.Worker, len(s.ws))
	for i, w := range s.ws {
		out[i] = journey.Worker{Name: w.name, Index: i, Addr: w.addr, Running: !s.stopped[i]}
	}
	return out
}

// Stop implements journey.Workers: the worker leaves the group (its
// tasks move to the others) and its HTTP API closes, streams included,
// as when a worker's process ends.
func (s *workerSet) Stop(i int) error {
	s.mu.Lock()
	running := 0
	for j := range s.ws {
		if !s.stopped[j] {
			running++
		}
	}
	switch {
	case i < 0 || i >= len(s.ws) || s.stopped[i]:
		s.mu.Unlock()
		return fmt.Errorf("demo: no running worker %d", i)
	case running == 1:
		s.mu.Unlock()
		return journey.ErrLastWorker
	}
	s.stopped[i] = true
	w := s.ws[i]
	s.mu.Unlock()
	err := w.halt()
	if w.rec != nil {
		w.rec.Stopped()
	}
	return err
}

// halt stops the worker and closes its API, returning Run's error
// (and keeping it for the next caller).
func (w *worker) halt() error {
	w.stop()
	err := <-w.done
	w.done <- err
	w.http.Close()
	return err
}

// running returns the workers not stopped.
func (s *workerSet) running() []*worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*worker
	for i, w := range s.ws {
		if !s.stopped[i] {
			out = append(out, w)
		}
	}
	return out
}

// stopAll stops every worker and returns their errors.
func (s *workerSet) stopAll() []error {
	s.mu.Lock()
	ws := s.ws
	for i := range ws {
		s.stopped[i] = true
	}
	s.mu.Unlock()
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.halt())
	}
	return errs
}
