package bench

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/profilemodel"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology/topologytest"
)

// The Kafka Streams peer computes what Weir computes: a generated
// scenario goes through Weir's profile topology (topologytest) and, as the
// same Avro bytes in the same order, through the peer's topology
// (TopologyTestDriver, run by Maven); every field of every final profile
// and every trigger must agree, and Weir's must agree with profilemodel.
// This also runs the peer's other Java tests. Needs Maven and Java 17.
func TestKafkaStreamsPeerAgreesWithWeir(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the Maven build of the Kafka Streams peer")
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		t.Fatalf("mvn not found: the Kafka Streams peer's tests need Maven and Java 17 (apt-get install maven openjdk-17-jdk-headless)")
	}
	const seed = 12
	recs := profile.Generate(seed, 4000, profile.GenOptions{Customers: 25})

	fake := srfake.New()
	t.Cleanup(fake.Close)
	hc, err := avro.NewHTTPRegistryClient(fake.URL())
	must(t, err)
	reg, err := avro.NewRegistry(hc)
	must(t, err)
	sd, err := profile.AvroSerdes(reg, avro.AutoRegister())
	must(t, err)
	topo, err := profile.Topology(profile.Config{Serdes: sd, Emit: profile.PerEvent})
	must(t, err)
	d, err := topologytest.New(topo)
	must(t, err)
	t.Cleanup(func() { _ = d.Close() })
	m := profilemodel.New()

	dir := t.TempDir()
	in, out := filepath.Join(dir, "scenario.jsonl"), filepath.Join(dir, "kstreams.json")
	var lines []string
	for _, r := range recs {
		k, v, err := r.Encode(sd)
		must(t, err)
		must(t, d.PipeRaw(r.Topic, k, v, r.Time))
		m.Add(r)
		b, err := json.Marshal(map[string]any{"topic": r.Topic, "key": string(k), "ts": r.Time.UnixMilli(),
			"value": base64.StdEncoding.EncodeToString(v)})
		must(t, err)
		lines = append(lines, string(b))
	}
	must(t, os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644))

	ups, err := topologytest.Output(d, events.TopicProfileUpdates, sd.Key, sd.Update).ReadAll()
	must(t, err)
	weir := map[string]Profile{}
	for _, u := range ups {
		weir[u.Key] = u.Value
	}
	trs, err := topologytest.Output(d, events.TopicTriggers, sd.Key, sd.Trigger).ReadAll()
	must(t, err)
	weirTr := map[string]events.Trigger{}
	for _, tr := range trs {
		weirTr[tr.Value.TriggerID] = tr.Value
	}
	modelTr := map[string]events.Trigger{}
	for _, tr := range m.Triggers {
		modelTr[tr.TriggerID] = tr
	}
	// The scenario must exercise every trigger type and the join.
	types := map[events.TriggerType]int{}
	for _, tr := range weirTr {
		types[tr.Type]++
	}
	afterView := 0
	for _, p := range weir {
		if p.LastPurchaseAfterView {
			afterView++
		}
	}
	t.Logf("seed %d: triggers by type %v; %d of %d profiles with last_purchase_after_view", seed, types, afterView, len(weir))
	if types[events.HighIntent] == 0 || types[events.AtRisk] == 0 || types[events.CartAbandoned] == 0 || afterView == 0 {
		t.Fatalf("seed %d: the scenario misses a trigger type or the join: %v, %d after view", seed, types, afterView)
	}
	report(t, "weir vs profilemodel: profiles", Compare(weir, m.Latest))
	report(t, "weir vs profilemodel: triggers", CompareTriggers(weirTr, modelTr))

	root, err := filepath.Abs("..")
	must(t, err)
	cmd := exec.Command(mvn, "-q", "-B", "-Dstyle.color=never", "-f", filepath.Join(root, "bench", "kstreams", "pom.xml"),
		"test", "-Dweir.scenario="+in, "-Dweir.scenario.out="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mvn test: %v\n%s", err, lastLines(string(b), 60))
	}
	b, err := os.ReadFile(out)
	must(t, err)
	var res map[string]struct {
		Profiles []json.RawMessage `json:"profiles"`
		Triggers []json.RawMessage `json:"triggers"`
	}
	must(t, json.Unmarshal(b, &res))
	if len(res) != 2 {
		t.Fatalf("the Java test wrote %d runs, want 2 (join segments long and default)", len(res))
	}
	for name, r := range res {
		ks := map[string]Profile{}
		for _, raw := range r.Profiles {
			p, err := KSDecoder("", raw)
			must(t, err)
			ks[p.CustomerID] = p
		}
		ksTr := map[string]events.Trigger{}
		for _, raw := range r.Triggers {
			tr, err := KSTriggerDecoder("", raw)
			must(t, err)
			ksTr[tr.TriggerID] = tr
		}
		t.Logf("%s: %d profiles, %d triggers (weir %d, %d)", name, len(ks), len(ksTr), len(weir), len(weirTr))
		report(t, "weir vs kstreams ("+name+"): profiles", Compare(weir, ks))
		report(t, "weir vs kstreams ("+name+"): triggers", CompareTriggers(weirTr, ksTr))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func report(t *testing.T, what string, mm []Mismatch) {
	t.Helper()
	if len(mm) == 0 {
		return
	}
	var ex []string
	for _, m := range mm[:min(len(mm), 10)] {
		ex = append(ex, m.String())
	}
	t.Errorf("%s: %d mismatches:\n%s", what, len(mm), strings.Join(ex, "\n"))
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(ls[max(0, len(ls)-n):], "\n")
}
