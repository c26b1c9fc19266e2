package topology_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/weirstream/weir/topology"
	"github.com/weirstream/weir/topology/topologytest"
)

// Scripts in testdata/topology/{windows,joins}. Commands:
//
//	window kind=tumbling|hopping|sliding|session size=ms [advance=ms] [grace=ms] [final] [late]
//	join kind=inner|left|outer before=ms after=ms [grace=ms] [late]
//	pipe            one record a line: "[topic] key ts" (topic default "in")
//	stats           late count and late-topic records
//
// Times are milliseconds. pipe prints the new outputs: windowed counts as
// key[start,end)=n (n=nil for a tombstone), joins as key:l/r@ts.
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "../testdata/topology/scripts", func(t *testing.T, path string) {
		var d *topologytest.Driver
		var read func() []string
		lateSeen := 0
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			dur := func(key string) time.Duration {
				var n int
				if td.HasArg(key) {
					td.ScanArgs(t, key, &n)
				}
				return time.Duration(n) * time.Millisecond
			}
			var kind string
			switch td.Cmd {
			case "window":
				td.ScanArgs(t, "kind", &kind)
				var w topology.Windows
				switch kind {
				case "tumbling":
					w = topology.Tumbling(dur("size"))
				case "hopping":
					w = topology.Hopping(dur("size"), dur("advance"))
				case "sliding":
					w = topology.Sliding(dur("size"))
				case "session":
					w = topology.Session(dur("size"))
				default:
					td.Fatalf(t, "unknown window kind %q", kind)
				}
				if td.HasArg("grace") {
					w = w.Grace(dur("grace"))
				}
				if td.HasArg("final") {
					w = w.EmitFinal()
				}
				if td.HasArg("late") {
					w = w.LateTo("late")
				}
				b := topology.New("dd")
				topology.GroupByKey(topology.StreamOf(b, "in", str, str), str, str).
					WindowedBy(w).Count("counts").To("out", wstr, i64)
				topo, err := b.Build()
				if err != nil {
					return err.Error() + "\n"
				}
				d, lateSeen = driver(t, topo), 0
				o := topologytest.Output(d, "out", wstr, i64)
				read = func() []string { return wread(t, o) }
				return "ok\n"
			case "join":
				td.ScanArgs(t, "kind", &kind)
				w := topology.JoinBetween(dur("before"), dur("after"))
				if td.HasArg("grace") {
					w = w.Grace(dur("grace"))
				}
				if td.HasArg("late") {
					w = w.LateTo("late")
				}
				b := topology.New("dd")
				l, r := topology.StreamOf(b, "l", str, str), topology.StreamOf(b, "r", str, str)
				orDash := func(p *string) string {
					if p == nil {
						return "-"
					}
					return *p
				}
				var out topology.Stream[string, string]
				switch kind {
				case "inner":
					out = topology.JoinStreams(l, r, "j", w, func(_, a, b string) string { return a + "/" + b }, str, str, str)
				case "left":
					out = topology.LeftJoinStreams(l, r, "j", w, func(_, a, b string, ok bool) string {
						if !ok {
							b = "-"
						}
						return a + "/" + b
					}, str, str, str)
				case "outer":
					out = topology.OuterJoinStreams(l, r, "j", w, func(_ string, a, b *string) string {
						return orDash(a) + "/" + orDash(b)
					}, str, str, str)
				default:
					td.Fatalf(t, "unknown join kind %q", kind)
				}
				out.To("out", str, str)
				topo, err := b.Build()
				if err != nil {
					return err.Error() + "\n"
				}
				d, lateSeen = driver(t, topo), 0
				o := topologytest.Output(d, "out", str, str)
				read = func() []string { return joinedStrings(t, o) }
				return "ok\n"
			case "pipe":
				if d == nil {
					td.Fatalf(t, "pipe before window or join")
				}
				for _, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
					f := strings.Fields(line)
					topic := "in"
					if len(f) == 3 {
						topic, f = f[0], f[1:]
					}
					if len(f) != 2 {
						td.Fatalf(t, "bad record line %q", line)
					}
					ts, err := strconv.ParseInt(f[1], 10, 64)
					if err != nil {
						td.Fatalf(t, "bad time in %q", line)
					}
					v := f[0] + "@" + f[1]
					if topic != "in" {
						v = strings.ToUpper(topic) + f[1]
					}
					if err := topologytest.Input(d, topic, str, str).Pipe(f[0], v, ms(ts)); err != nil {
						td.Fatalf(t, "pipe %q: %v", line, err)
					}
				}
				got := read()
				if len(got) == 0 {
					return "(nothing)\n"
				}
				return strings.Join(got, "\n") + "\n"
			case "stats":
				late := d.Outputs("late")
				var vs []string
				for _, r := range late[lateSeen:] {
					vs = append(vs, string(r.Value))
				}
				lateSeen = len(late)
				return fmt.Sprintf("late=%d late-topic=%v\n", d.Stats().Late, vs)
			}
			td.Fatalf(t, "unknown command %q", td.Cmd)
			return ""
		})
	})
}
