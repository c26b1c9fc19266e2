package bench

import (
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Chart draws, per metric measured, a pair of horizontal bars (Weir,
// Kafka Streams), each scaled to the larger of the two so that the ratio
// Weir/KS is the ratio of the bars, with the values beside them and the
// ratio in the metric's label. PNG, drawn with gonum/plot.
func (r *Results) Chart(w io.Writer) error {
	var weir, ks *SystemResult
	for _, s := range r.Systems {
		switch s.Name {
		case "weir":
			weir = s
		case "kstreams":
			ks = s
		}
	}
	if weir == nil {
		weir = &SystemResult{}
	}
	if ks == nil {
		ks = &SystemResult{}
	}
	var (
		names        []string
		wv, kv       plotter.Values
		wxy, kxy     plotter.XYs
		wtext, ktext []string
	)
	// gonum draws the first nominal row at the bottom: walk the metrics
	// backwards so the table's order reads top-down.
	ms := metrics()
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		a, b := m.get(weir), m.get(ks)
		if a == 0 && b == 0 {
			continue
		}
		top := max(a, b)
		label := m.label()
		if a != 0 && b != 0 {
			label += fmt.Sprintf("  Weir/KS %.2f", a/b)
		}
		y := float64(len(names))
		names = append(names, label)
		wv, kv = append(wv, a/top), append(kv, b/top)
		wxy, kxy = append(wxy, plotter.XY{X: a / top, Y: y}), append(kxy, plotter.XY{X: b / top, Y: y})
		wtext, ktext = append(wtext, m.value(weir)), append(ktext, m.value(ks))
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Weir vs Kafka Streams (%s, %s)", r.Date, r.GitSHA)
	p.X.Label.Text = "share of the larger value of the two"
	p.X.Min, p.X.Max = 0, 1.45 // room for the values and the legend
	if len(names) == 0 {
		p.Title.Text += ": nothing measured"
		names, wv, kv = []string{""}, plotter.Values{0}, plotter.Values{0}
		wxy, kxy, wtext, ktext = plotter.XYs{{}}, plotter.XYs{{}}, []string{""}, []string{""}
	}
	const barW = 9
	weirC, ksC := color.RGBA{38, 110, 190, 255}, color.RGBA{230, 120, 40, 255}
	for _, s := range []struct {
		vals   plotter.Values
		xy     plotter.XYs
		text   []string
		c      color.RGBA
		name   string
		offset vg.Length
	}{{wv, wxy, wtext, weirC, "Weir", barW / 2}, {kv, kxy, ktext, ksC, "Kafka Streams", -barW / 2}} {
		bars, err := plotter.NewBarChart(s.vals, barW)
		if err != nil {
			return err
		}
		bars.Horizontal, bars.Color, bars.LineStyle.Width, bars.Offset = true, s.c, 0, s.offset
		labels, err := plotter.NewLabels(plotter.XYLabels{XYs: s.xy, Labels: s.text})
		if err != nil {
			return err
		}
		labels.Offset = vg.Point{X: 4, Y: s.offset - 3}
		p.Add(bars, labels)
		p.Legend.Add(s.name, bars)
	}
	p.Legend.Top = true
	p.NominalY(names...)
	wt, err := p.WriterTo(10*vg.Inch, vg.Length(1+0.45*float64(len(names)))*vg.Inch, "png")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}
