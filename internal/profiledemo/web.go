package profiledemo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/collect"
	"github.com/weirstream/weir/internal/journey"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
)

// demoWriteKey is the write key of the demo shop (the one docker-compose's
// collector takes too).
const demoWriteKey = "wk_demo_shop_0001"

// web is the browser demo beside the workers: the collector, the webhook
// deliverer, the demo engine and the pages' server.
type web struct {
	url       string
	http      *http.Server
	collector *collect.Collector
	stop      context.CancelFunc
	done      chan struct{}
	closing   sync.Once
}

// startWeb listens on cfg.Web and serves the pages there, with the
// collector mounted on the same origin, and starts the deliverer of the
// triggers to the demo engine (also on that origin). ctx bounds them all.
func startWeb(ctx context.Context, cfg Config, tp profile.Topics, reg *avro.Registry, rc avro.RegistryClient,
	workers *workerSet, op *journey.Operator, engine *journey.Engine, secret string, catalog []journey.Product, customers []string) (*web, error) {
	ln, err := net.Listen("tcp", cfg.Web)
	if err != nil {
		return nil, fmt.Errorf("demo: pages: listen %s: %w (choose another address with -web host:port, or leave the pages out with -web=)", cfg.Web, err)
	}
	base := "http://" + ln.Addr().String()
	conn := []processor.Opt{processor.SeedBrokers(cfg.Brokers...)}
	if _, err := collect.RegisterDefaultSchemas(ctx, reg, rc, cfg.TopicPrefix); err != nil {
		ln.Close()
		return nil, err
	}
	col, err := collect.New(ctx, collect.Options{
		Kafka: conn, Registry: reg, Routes: collect.DefaultRoutes(cfg.TopicPrefix),
		WriteKeys: map[string]string{demoWriteKey: "demo-shop"},
		// The shop is served from this origin, under whatever name the
		// person typed (localhost, a LAN address); the write key is public
		// in the page anyway.
		AllowedOrigins:  []string{"*"},
		TransactionalID: cfg.AppID + "-collector", Producers: 2,
		Logger: cfg.Log.Named("collector"),
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	deliverer, err := newDeliverer(ctx, cfg, tp, reg, base+"/engine/webhooks", secret)
	if err != nil {
		ln.Close()
		col.Close()
		return nil, err
	}
	srv, err := journey.New(journey.Options{
		Workers: workers, Token: cfg.Token, Collector: col.Handler(), WriteKey: demoWriteKey,
		Catalog: catalog, Customers: customers, Operator: op, Engine: engine, Logger: cfg.Log.Named("pages"),
	})
	if err != nil {
		ln.Close()
		col.Close()
		deliverer.Close()
		return nil, err
	}
	w := &web{url: base + "/", collector: col, done: make(chan struct{})}
	// The pages' event streams never go idle: shutting down ends them.
	streams, endStreams := context.WithCancel(ctx)
	w.http = &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return streams }}
	w.http.RegisterOnShutdown(endStreams)
	go w.http.Serve(ln)
	dctx, stop := context.WithCancel(ctx)
	w.stop = stop
	go func() {
		defer close(w.done)
		go op.Run(dctx)
		if err := deliverer.Run(dctx); err != nil && dctx.Err() == nil {
			cfg.Log.Error("demo: webhook deliverer stopped", zap.Error(err))
		}
		deliverer.Close()
	}()
	return w, nil
}

// close stops the deliverer, then the pages, then the collector (after
// the requests in progress are answered). Calls after the first do
// nothing.
func (w *web) close() {
	w.closing.Do(w.shut)
}

func (w *web) shut() {
	w.stop() // the deliverer first: the engine it posts to goes next
	<-w.done
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w.http.Shutdown(sctx)
	w.collector.Close()
}

// catalogOf returns the products of recs, each with how often the
// generator's customers view it, most viewed first, and the first few
// customers with a row (the page's switcher offers them).
func catalogOf(recs []profile.Record) ([]journey.Product, []string) {
	views := map[string]int{}
	var products []journey.Product
	var customers []string
	for _, r := range recs {
		switch {
		case r.Product != nil:
			products = append(products, journey.Product{Product: *r.Product})
		case r.Customer != nil && len(customers) < 8 && !slices.Contains(customers, r.Key):
			customers = append(customers, r.Key)
		case r.View != nil && r.View.ProductID != nil:
			views[*r.View.ProductID]++
		}
	}
	for i := range products {
		products[i].Popularity = views[products[i].ProductID]
	}
	slices.SortStableFunc(products, func(a, b journey.Product) int { return b.Popularity - a.Popularity })
	return products, customers
}

// printPages tells the person where to look.
func printPages(status io.Writer, w *web) {
	fmt.Fprintf(status, "demo: open %s (the shop and your live profile) and %soperator (workers, lag, latency); Ctrl-C stops\n", w.url, w.url)
}
