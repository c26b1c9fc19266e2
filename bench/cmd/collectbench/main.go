// Command collectbench measures the collector on loopback: clients post
// JSON batches over HTTP until a fixed number of events is acknowledged,
// and, as the baseline in the same run, a plain franz-go producer
// (idempotent, acks=all) writes the same records straight to Kafka.
// It prints events/s and ack latency (p50, p99) for both, and the
// collector's as ratios of the baseline.
//
//	go run ./bench/cmd/collectbench [-events 200000] [-batch 20] [-clients 16]
//
// KAFKA_BROKERS selects a running cluster; otherwise an embedded kfake
// one is started (as make demo does).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/collect"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/processor"
)

func main() {
	total := flag.Int("events", 200000, "events to send through each path")
	batch := flag.Int("batch", 20, "events per request (the SDK's default batch)")
	clients := flag.Int("clients", 16, "concurrent clients")
	producers := flag.Int("producers", 4, "the collector's transactional producers")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run here")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "collectbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*total, *batch, *clients, *producers); err != nil {
		fmt.Fprintln(os.Stderr, "collectbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

type result struct {
	name      string
	events    int
	elapsed   time.Duration
	latencies []time.Duration // per batch, sorted
	err       error
}

func (r result) rate() float64 { return float64(r.events) / r.elapsed.Seconds() }
func (r result) pct(p float64) time.Duration {
	return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
}

func run(total, batch, clients, producers int) error {
	ctx := context.Background()
	var brokers []string
	if b := os.Getenv("KAFKA_BROKERS"); b != "" {
		brokers = strings.Split(b, ",")
	}
	brokers, registry, stop, err := demo.Embedded(brokers, "", os.Stderr)
	if err != nil {
		return err
	}
	defer stop()
	prefix := fmt.Sprintf("collectbench-%d.", time.Now().UnixNano())
	if err := demo.CreateTopicsKeeping(ctx, brokers, map[string]int32{prefix + events.TopicWebBrowsing: 6}); err != nil {
		return err
	}
	rc, err := avro.NewHTTPRegistryClient(registry)
	if err != nil {
		return err
	}
	topic := prefix + events.TopicWebBrowsing
	if _, err := rc.Register(ctx, topic+"-value", events.PageViewSchema); err != nil {
		return err
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		return err
	}

	// Baseline: the records the collector would write, encoded up front.
	serde, err := events.PageViewSerde(reg)
	if err != nil {
		return err
	}
	recs := make([]*kgo.Record, total)
	for i := range recs {
		pv := events.PageView{Context: events.Context{EventID: fmt.Sprintf("d-%d", i), EventTime: time.Now(), Device: events.Device{Type: events.DeviceDesktop}},
			CustomerID: fmt.Sprintf("a-%d", i%5000), URL: "https://shop.example/p/1", PageType: events.PageProduct}
		v, err := serde.Encode(topic, pv)
		if err != nil {
			return err
		}
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(pv.CustomerID), Value: v}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	direct := drive("direct producer", total, batch, clients, func(from, to int) error {
		return cl.ProduceSync(ctx, recs[from:to]...).FirstErr()
	})

	col, err := collect.New(ctx, collect.Options{
		Kafka:    []processor.Opt{processor.SeedBrokers(brokers...)},
		Registry: reg, Routes: []collect.Route{{Type: "page_view", Topic: topic}},
		WriteKeys: map[string]string{"wk_bench_000001": "bench"}, TransactionalID: prefix + "collector", Producers: producers,
		MaxBatchEvents: batch, RatePerClient: 1e9, RateBurst: max(batch, 1000), DedupMaxIDs: total,
	})
	if err != nil {
		return err
	}
	defer col.Close()
	srv := httptest.NewServer(col.Handler())
	defer srv.Close()
	bodies := make([][]byte, 0, total/batch+1)
	for from := 0; from < total; from += batch {
		var evs []map[string]any
		for i := from; i < min(from+batch, total); i++ {
			evs = append(evs, map[string]any{"id": fmt.Sprintf("c-%d", i), "type": "page_view", "anonymous_id": fmt.Sprintf("a-%d", i%5000),
				"context": map[string]any{"device_type": "DESKTOP", "locale": "en-US", "viewport": "1280x720"},
				"fields":  map[string]any{"url": "https://shop.example/p/1", "page_type": "PRODUCT"}})
		}
		b, _ := json.Marshal(map[string]any{"events": evs})
		bodies = append(bodies, b)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	viaHTTP := drive("collector (HTTP)", total, batch, clients, func(from, _ int) error {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/events", bytes.NewReader(bodies[from/batch]))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Weir-Write-Key", "wk_bench_000001")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})

	fmt.Printf("\n%d events, %d per request, %d clients, %d producers, %s Kafka\n\n", total, batch, clients, producers, map[bool]string{true: "real", false: "embedded (kfake)"}[os.Getenv("KAFKA_BROKERS") != ""])
	fmt.Printf("%-18s %12s %10s %10s\n", "", "events/s", "p50 ack", "p99 ack")
	for _, r := range []result{direct, viaHTTP} {
		fmt.Printf("%-18s %12.0f %10s %10s\n", r.name, r.rate(), r.pct(0.5).Round(10*time.Microsecond), r.pct(0.99).Round(10*time.Microsecond))
	}
	fmt.Printf("\ncollector / direct: throughput %.2f, p50 %.2f, p99 %.2f\n", viaHTTP.rate()/direct.rate(),
		float64(viaHTTP.pct(0.5))/float64(direct.pct(0.5)), float64(viaHTTP.pct(0.99))/float64(direct.pct(0.99)))
	if direct.err != nil || viaHTTP.err != nil {
		return fmt.Errorf("direct: %v; collector: %v", direct.err, viaHTTP.err)
	}
	return nil
}

// drive sends batches [from, to) of total with clients goroutines and
// times each.
func drive(name string, total, batch, clients int, send func(from, to int) error) result {
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				from := int(next.Add(int64(batch))) - batch
				if from >= total {
					return
				}
				t0 := time.Now()
				err := send(from, min(from+batch, total))
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r := result{name: name, events: total, elapsed: time.Since(start), latencies: lat}
	slices.Sort(r.latencies)
	r.err = firstErr
	return r
}
