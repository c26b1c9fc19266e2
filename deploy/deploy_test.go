// Package deploy_test proves the operator's files against live parts: the
// alert rules and the Grafana dashboard are evaluated by a real Prometheus
// server scraping the workers of `weir demo`.
package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// alertRule is one rule of deploy/prometheus/alerts.yml.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadAlerts(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	var rules []alertRule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatal("alerts.yml has no rules")
	}
	return rules
}

// panelQuery is one query of a dashboard panel.
type panelQuery struct{ panel, expr string }

func loadDashboard(t *testing.T) []panelQuery {
	t.Helper()
	b, err := os.ReadFile("grafana/weir.json")
	if err != nil {
		t.Fatal(err)
	}
	type source struct {
		UID string `json:"uid"`
	}
	var d struct {
		Panels []struct {
			Title      string `json:"title"`
			Type       string `json:"type"`
			Datasource source `json:"datasource"`
			Targets    []struct {
				Expr       string `json:"expr"`
				Datasource source `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("weir.json: %v", err)
	}
	// Panels must name the data source the stack provisions.
	var prov struct {
		Datasources []source `yaml:"datasources"`
	}
	if b, err := os.ReadFile("grafana/provisioning/datasources/prometheus.yml"); err != nil {
		t.Fatal(err)
	} else if err := yaml.Unmarshal(b, &prov); err != nil || len(prov.Datasources) != 1 {
		t.Fatalf("provisioned data sources: %v, %d of them, want 1", err, len(prov.Datasources))
	}
	uid := prov.Datasources[0].UID
	var qs []panelQuery
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource.UID != uid {
			t.Errorf("panel %q: data source %q, want the provisioned %q", p.Title, p.Datasource.UID, uid)
		}
		for _, q := range p.Targets {
			if q.Datasource.UID != uid {
				t.Errorf("panel %q: query data source %q, want %q", p.Title, q.Datasource.UID, uid)
			}
			qs = append(qs, panelQuery{p.Title, q.Expr})
		}
	}
	return qs
}

// operands splits a PromQL expression at its top-level comparison and
// set operators and drops number literals: what is left must each return
// data for the alert to be able to fire. ("x > 1" returns nothing while
// healthy, so the expression as a whole proves nothing.) matched is the
// operands of an expression whose set operators are all "and" joined by
// "and": it returns data only if their label sets match, as the alert
// needs; "" for other expressions.
func operands(expr string) (out []string, matched string) {
	onlyAnd, sets := true, 0
	depth, start := 0, 0
	inQuote := byte(0)
	cut := func(i, n int) {
		out = append(out, strings.TrimSpace(expr[start:i]))
		start = i + n
	}
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case inQuote != 0:
			if c == inQuote {
				inQuote = 0
			}
			continue
		case c == '"' || c == '\'':
			inQuote = c
			continue
		case strings.IndexByte("([{", c) >= 0:
			depth++
			continue
		case strings.IndexByte(")]}", c) >= 0:
			depth--
			continue
		}
		if depth != 0 {
			continue
		}
		for _, op := range []string{">=", "<=", "==", "!=", ">", "<"} {
			if strings.HasPrefix(expr[i:], op) {
				cut(i, len(op))
				i += len(op) - 1
				goto next
			}
		}
		for _, op := range []string{"and", "or", "unless"} {
			if strings.HasPrefix(expr[i:], op) && (i == 0 || isSpace(expr[i-1])) && i+len(op) < len(expr) && isSpace(expr[i+len(op)]) {
				sets++
				onlyAnd = onlyAnd && op == "and"
				cut(i, len(op))
				i += len(op) - 1
				goto next
			}
		}
	next:
	}
	out = append(out, strings.TrimSpace(expr[start:]))
	var keep []string
	for _, o := range out {
		if _, err := strconv.ParseFloat(o, 64); err != nil && o != "" {
			keep = append(keep, o)
		}
	}
	if sets > 0 && onlyAnd {
		matched = "(" + strings.Join(keep, ") and (") + ")"
	}
	return keep, matched
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' }

func TestOperands(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (topic) (x) > 1000 and sum by (topic) (deriv(x[10m])) > 0`: {"sum by (topic) (x)", "sum by (topic) (deriv(x[10m]))"},
		`up{job="weir",a!="b>c"} == 0`:                                     {`up{job="weir",a!="b>c"}`},
		`histogram_quantile(0.99, sum by (le) (rate(b[5m]))) > 1`:          {"histogram_quantile(0.99, sum by (le) (rate(b[5m])))"},
		"a\nunless\nb":              {"a", "b"},
		`sum by (operand) (x) >= 2`: {"sum by (operand) (x)"},
	} {
		if got, _ := operands(expr); !slices.Equal(got, want) {
			t.Errorf("operands(%q) = %q, want %q", expr, got, want)
		}
	}
	for expr, want := range map[string]string{
		`sum by (a) (x) > 1 and sum by (a) (y) == 0`: "(sum by (a) (x)) and (sum by (a) (y))",
		`x > 1`:          "",
		`x > 1 unless y`: "",
	} {
		if _, got := operands(expr); got != want {
			t.Errorf("operands(%q) matched %q, want %q", expr, got, want)
		}
	}
}

// TestAlertsHaveRunbooks: each alert links its runbook entry, and the
// operations guide has it.
func TestAlertsHaveRunbooks(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range loadAlerts(t) {
		want := "https://github.com/weirstream/weir/blob/main/docs/operations.md#" + strings.ToLower(r.Alert)
		if r.Annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
		}
		if !regexp.MustCompile(`(?m)^#+ ` + r.Alert + `\s*$`).Match(doc) {
			t.Errorf("%s: docs/operations.md has no heading %q", r.Alert, r.Alert)
		}
	}
}

// TestQueriesReturnDataFromLiveWorkers runs `weir demo`, points a real
// Prometheus (Debian's prometheus package) at its workers with the alert
// rules loaded, and evaluates every dashboard query and every operand of
// every alert: each must return data, so a renamed or misspelt metric
// fails here. It also requires Prometheus to have loaded every rule and
// evaluated it without error.
func TestQueriesReturnDataFromLiveWorkers(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("no prometheus server on PATH: install Debian's prometheus package (apt-get install prometheus); .ci/run does: %v", err)
	}
	alerts := loadAlerts(t)
	panels := loadDashboard(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()

	weir := filepath.Join(dir, "weir")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", weir, "github.com/weirstream/weir/cmd/weir").CombinedOutput(); err != nil {
		t.Fatalf("build weir: %v\n%s", err, out)
	}
	targets, demoLog := startDemo(ctx, t, weir)

	rules, err := filepath.Abs("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: weir
    static_configs:
      - targets: [%s]
`, rules, `"`+strings.Join(targets, `", "`)+`"`)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	prom := exec.Command(promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	var promLog lockedBuffer
	prom.Stdout, prom.Stderr = &promLog, &promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		prom.Process.Kill()
		prom.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s\nweir demo log:\n%s", promLog.String(), demoLog.String())
		}
	}()
	api := &promAPI{base: "http://" + addr}
	// Every worker scraped, and enough samples for rate() over 1m.
	api.waitFor(ctx, t, `count(up{job="weir"} == 1) == `+strconv.Itoa(len(targets)))
	api.waitFor(ctx, t, `min(count_over_time(weir_records_in_total[1m])) >= 5`)

	var queries []panelQuery
	for _, p := range panels {
		queries = append(queries, panelQuery{"panel " + p.panel, strings.ReplaceAll(p.expr, "$__rate_interval", "1m")})
	}
	for _, r := range alerts {
		if _, err := api.query(ctx, r.Expr); err != nil {
			t.Errorf("alert %s: %v", r.Alert, err)
		}
		ops, matched := operands(r.Expr)
		for _, o := range ops {
			queries = append(queries, panelQuery{"alert " + r.Alert, o})
		}
		if matched != "" { // the sides of its "and" match on their labels
			queries = append(queries, panelQuery{"alert " + r.Alert, matched})
		}
	}
	// Series appear as the demo runs (a first dead letter, a first
	// commit): give each query until the deadline to return data.
	deadline := time.Now().Add(60 * time.Second)
	for _, q := range queries {
		for {
			n, err := api.query(ctx, q.expr)
			if err != nil {
				t.Errorf("%s: %s: %v", q.panel, q.expr, err)
				break
			}
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: %s returned no data from live workers", q.panel, q.expr)
				break
			}
			api.nextEvaluation(ctx)
		}
	}

	// Prometheus loaded every alert and evaluated it without error.
	loaded := api.rules(ctx, t)
	for _, r := range alerts {
		switch h, ok := loaded[r.Alert]; {
		case !ok:
			t.Errorf("alert %s not loaded by Prometheus", r.Alert)
		case h != "ok":
			t.Errorf("alert %s: rule health %q", r.Alert, h)
		}
	}
}

// startDemo runs `weir demo` with workers on free ports until ctx ends
// and returns their HTTP addresses once both serve.
func startDemo(ctx context.Context, t *testing.T, weir string) ([]string, *lockedBuffer) {
	t.Helper()
	cmd := exec.CommandContext(ctx, weir, "demo", "-workers", "2", "-http", "127.0.0.1:0", "-web=",
		"-duration", "3m", "-rate", "300", "-bad", "0.05")
	cmd.WaitDelay = 10 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	log := &lockedBuffer{}
	cmd.Stdout = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	serving := regexp.MustCompile(`^demo: worker \d+ serving http://(\S+) `)
	found := make(chan []string, 1)
	go func() {
		var addrs []string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.Write(append(sc.Bytes(), '\n'))
			if m := serving.FindStringSubmatch(sc.Text()); m != nil {
				if addrs = append(addrs, m[1]); len(addrs) == 2 {
					found <- addrs
				}
			}
		}
		close(found)
	}()
	select {
	case addrs, ok := <-found:
		if !ok {
			t.Fatalf("weir demo ended before its workers served:\n%s", log.String())
		}
		return addrs, log
	case <-ctx.Done():
		t.Fatalf("weir demo's workers did not serve:\n%s", log.String())
	}
	return nil, nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// promAPI asks a Prometheus server's HTTP API.
type promAPI struct{ base string }

// query evaluates expr now and returns how many series or samples it
// gave.
func (p *promAPI) query(ctx context.Context, expr string) (int, error) {
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := p.get(ctx, "/api/v1/query?query="+url.QueryEscape(expr), &r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("query failed: %s", r.Error)
	}
	if r.Data.ResultType == "scalar" {
		return 1, nil
	}
	var vs []json.RawMessage
	if err := json.Unmarshal(r.Data.Result, &vs); err != nil {
		return 0, err
	}
	return len(vs), nil
}

// waitFor waits until expr returns data, checking after each evaluation
// interval.
func (p *promAPI) waitFor(ctx context.Context, t *testing.T, expr string) {
	t.Helper()
	for {
		if n, err := p.query(ctx, expr); err == nil && n > 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("prometheus: %s never held", expr)
		}
		p.nextEvaluation(ctx)
	}
}

// nextEvaluation waits one scrape and evaluation interval (1 s): the
// earliest the server can know more.
func (p *promAPI) nextEvaluation(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}

// rules returns each alerting rule's health.
func (p *promAPI) rules(ctx context.Context, t *testing.T) map[string]string {
	t.Helper()
	var r struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name   string `json:"name"`
					Health string `json:"health"`
					Type   string `json:"type"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := p.get(ctx, "/api/v1/rules", &r); err != nil {
		t.Fatal(err)
	}
	health := map[string]string{}
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			if rule.Type == "alerting" {
				health[rule.Name] = rule.Health
			}
		}
	}
	return health
}

func (p *promAPI) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %v: %s", path, err, b)
	}
	return nil
}
