# Weir — the README's two commands are `make demo` and `make test`.
GO        ?= go
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME  ?= 20s
# Packages whose tests use the Kafka harness: they run again on real Kafka.
KAFKA_PKGS = $(shell $(GO) list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./... | grep 'internal/kafkatest' | cut -d' ' -f1 | sort -u)

.PHONY: web test-web build test test-fast test-ops test-sdk test-fuzz test-kafka demo bench bench-collect chaos bench-micro kafka-up kafka-down lint sdk

build:
	$(GO) build ./...

## test: all three tiers. Tier 3 uses KAFKA_BROKERS if set, else starts a
## real broker with scripts/kafka.sh (needs Java 17+ and Maven).
test: test-ops test-sdk test-web test-fast test-fuzz test-kafka

## sdk: the browser SDK (sdk/js): its dev dependencies from npm, then the
## bundle (dist/weir.js) the Chromium test loads.
sdk:
	cd sdk/js && npm ci --no-audit --no-fund --loglevel=error && npm run build

## web: the browser demo's pages (internal/journey/web): dev dependencies
## from npm, then the build into web/dist, which is committed and embedded
## in the binary (so go build needs no Node).
web:
	cd internal/journey/web && npm ci --no-audit --no-fund --loglevel=error && npm run build

## test-web: the committed pages are what their sources build.
test-web: web
	@echo "== browser demo pages: internal/journey/web/dist matches its sources"
	@test -z "$$(git status --porcelain -- internal/journey/web/dist)" || { git status --short -- internal/journey/web/dist; echo "internal/journey/web/dist is stale: run make web and commit it"; exit 1; }

test-sdk: sdk
	@echo "== browser SDK unit tests (node --test)"
	cd sdk/js && npm test

# The runtime and what it runs concurrently (tasks on Parallelism
# goroutines): on tier 2 these run under the race detector, instead of
# plainly, so the time does not double.
RACE_PKGS = $(shell $(GO) list ./processor/... ./topology/... ./state/... ./serve/... ./codec/... ./collect/... ./webhook/...)
PLAIN_PKGS = $(filter-out $(RACE_PKGS),$(shell $(GO) list ./...))

# Tier 2 is always the embedded cluster, even when KAFKA_BROKERS is set
# for tier 3.
test-fast: build sdk web
	@echo "== tiers 1-2: unit tests, topology driver, embedded Kafka (kfake)"
	env -u KAFKA_BROKERS $(GO) test -count=1 $(PLAIN_PKGS)
	@echo "== tiers 1-2 of the runtime under the race detector"
	env -u KAFKA_BROKERS $(GO) test -count=1 -race $(RACE_PKGS)
	@echo "== deploy file checker (its own module)"
	cd tools/deploycheck && $(GO) test -count=1 ./...

## test-ops: the alert rules and Prometheus config, by promtool (Debian's
## prometheus package). deploy/deploy_test.go, in test-fast, runs the
## server itself against weir demo.
test-ops:
	@echo "== alert rules and Prometheus config (promtool)"
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts_test.yml
	promtool check config deploy/prometheus/prometheus.yml

test-fuzz:
	@echo "== fuzz targets, $(FUZZTIME) each"
	@scripts/fuzz.sh $(FUZZTIME)

test-kafka:
	@echo "== tier 3: real Apache Kafka"
	@scripts/test-real-kafka.sh $(KAFKA_PKGS)

## demo: the profiles application on an embedded cluster with the browser
## demo at http://127.0.0.1:8000/ until Ctrl-C, then the exactly-once check.
## Built, then run (not go run): go run exits 1 after Ctrl-C even when the
## check passes, and make would report that as an error.
demo:
	$(GO) build -o .cache/bin/weir ./cmd/weir
	.cache/bin/weir demo

## bench: Weir against Kafka Streams on a real single-node Kafka (bench/README.md);
## BENCH_EVENTS scales it, KAFKA_BROKERS reuses a running broker.
bench:
	$(GO) run ./bench/cmd/bench

## bench-collect: the collector on loopback against a direct producer
## (bench/cmd/collectbench): events/s and ack latency, as ratios.
bench-collect:
	$(GO) run ./bench/cmd/collectbench

## chaos: the fault suite on a real 3-node Kafka (bench/cmd/chaos): workers
## killed (restarted, state deleted, lost for good and replaced), a broker
## bounced, a registry outage, a worker frozen; then an independent
## read_committed check. Prints a table per fault. Tier 3 runs it shortened.
chaos:
	$(GO) run ./bench/cmd/chaos

bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./...

kafka-up:
	@scripts/kafka.sh start

kafka-down:
	@scripts/kafka.sh stop

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@# docker-compose.yml (compose spec schema) and deploy/k8s (k8s.io/api
	@# types, strict); tools/deploycheck is its own module, which ./... skips.
	cd tools/deploycheck && $(GO) vet ./... && $(GO) run . -root ../..
