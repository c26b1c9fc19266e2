package bench

import (
	"image"
	"image/color"
	"image/png"
	"io"
)

// Chart draws one group of two bars (Weir, Kafka Streams) per metric
// measured for both, each scaled to the larger of the two, with the
// values written beside them.
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
	type row struct {
		label  string
		w, k   float64
		ws, ks string
	}
	var rows []row
	for _, m := range metrics() {
		a, b := m.get(weir), m.get(ks)
		if a == 0 && b == 0 {
			continue
		}
		rows = append(rows, row{m.label(), a, b, m.value(weir), m.value(ks)})
	}
	const (
		width, left, barMax, barH, gap = 900, 20, 560, 14, 16
		scale                          = 2
	)
	height := 60 + len(rows)*(2*barH+gap+2*glyphH*scale) + 20
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	weirC, ksC, ink := color.RGBA{38, 110, 190, 255}, color.RGBA{230, 120, 40, 255}, color.RGBA{20, 20, 20, 255}
	drawText(img, left, 12, "WEIR VS KAFKA STREAMS "+r.Date+" "+r.GitSHA, ink, scale)
	fill(img, image.Rect(left, 36, left+12, 48), weirC)
	drawText(img, left+18, 38, "WEIR", ink, scale)
	fill(img, image.Rect(left+90, 36, left+102, 48), ksC)
	drawText(img, left+108, 38, "KAFKA STREAMS", ink, scale)
	y := 60
	for _, rw := range rows {
		drawText(img, left, y, rw.label, ink, scale)
		y += glyphH*scale + 6
		top := max(rw.w, rw.k)
		for _, b := range []struct {
			v float64
			s string
			c color.RGBA
		}{{rw.w, rw.ws, weirC}, {rw.k, rw.ks, ksC}} {
			n := 0
			if top > 0 {
				n = int(b.v / top * barMax)
			}
			fill(img, image.Rect(left, y, left+max(n, 1), y+barH), b.c)
			drawText(img, left+max(n, 1)+6, y+1, b.s, ink, scale)
			y += barH + 2
		}
		y += gap
	}
	return png.Encode(w, img)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}
