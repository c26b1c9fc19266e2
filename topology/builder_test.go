package topology_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/weirstream/weir/topology"
)

// Operations after Build must not reach the built topology: before the
// builder was sealed they linked a node into it (Describe showed an edge to
// a node of no sub-topology), a second Build returned nil, nil and a record
// piped into the first topology panicked in the task core.
func TestBuilderIsSealedByBuild(t *testing.T) {
	b := topology.New("app")
	s := topology.StreamOf(b, "in", str, str)
	s.To("out", str, str)
	topo := build(t, b)
	before := topo.Describe()

	s.Filter("late-filter", func(string, string) bool { return true }).To("late-out", str, str)
	topology.StreamOf(b, "late-in", str, str)
	topology.GlobalTableOf(b, "late-global", str, str)
	topology.GroupByKey(s, str, str).Count("late-count")

	if got := topo.Describe(); got != before {
		t.Fatalf("built topology changed:\n%s\nwant\n%s", got, before)
	}
	again, err := b.Build()
	if !errors.Is(err, topology.ErrBuilt) || again != nil {
		t.Fatalf("second Build = %v, %v; want nil and ErrBuilt", again, err)
	}
	for _, name := range []string{`"late-filter"`, `"late-global"`, `"late-count"`} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}

	d := driver(t, topo)
	must(t, d.PipeRaw("in", []byte("k"), []byte("v"), ms(1)))
	if got := readKVs(t, d, "out", str, str); len(got) != 1 || got[0] != (kv[string, string]{"k", "v"}) {
		t.Fatalf("out = %v", got)
	}
	if n := len(d.Outputs("late-out")); n != 0 {
		t.Fatalf("a node added after Build wrote %d records", n)
	}
}

func TestNewTaskWithNilStoresIsAnError(t *testing.T) {
	b := topology.New("app")
	topology.GroupByKey(topology.StreamOf(b, "in", str, str), str, str).Count("counts")
	if _, err := build(t, b).NewTask(topology.TaskID{}, nil); !errors.Is(err, topology.ErrUnknownStore) {
		t.Fatalf("NewTask(nil stores) = %v, want ErrUnknownStore", err)
	}
}

func TestBuildTwiceWithoutChangesGivesTheSameTopology(t *testing.T) {
	b := topology.New("app")
	topology.StreamOf(b, "in", str, str).To("out", str, str)
	first := build(t, b)
	second := build(t, b)
	if first != second {
		t.Fatal("second Build made another topology")
	}
}
