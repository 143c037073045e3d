package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// writeFile writes data to path, creating its directory.
func writeFile(path string, data []byte) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(path, data, 0o644)
}

var palette = []color.Color{
	color.RGBA{0x22, 0x22, 0x22, 0xff}, // direct: near black
	color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	color.RGBA{0x94, 0x67, 0xbd, 0xff},
}

// percentile labels on the categorical x axis.
var pctNames = []string{"p50", "p90", "p99", "p99.9", "max"}

// writePlot draws two panels (GET and SET 16 B, own generator, c=50 P=1): latency percentiles on
// a categorical x axis, µs on a log y axis, one line per target.
func (b *bench) writePlot(path string) error {
	var panels []*plot.Plot
	for _, wl := range []workload{wGet16, wSet16} {
		var c *cell
		for _, x := range b.cells {
			if x.Gen == genOwn && x.Workload == wl.Name && x.Clients == 50 && x.Pipeline == 1 {
				c = x
			}
		}
		if c == nil {
			continue
		}
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s, 50 clients, no pipelining (own generator)", wl.Name)
		p.Title.TextStyle.Font.Size = vg.Points(15)
		p.Y.Label.Text = "latency (µs, log scale)"
		p.X.Label.Text = "percentile"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = ticks125{}
		p.X.Min, p.X.Max = -0.3, float64(len(pctNames))-0.7
		p.NominalX(pctNames...)
		p.Title.Padding = vg.Points(10)
		p.Legend.YOffs = -vg.Points(4)
		p.Legend.XOffs = vg.Points(4)
		p.Legend.Top = true
		p.Legend.Left = true
		p.Legend.TextStyle.Font.Size = vg.Points(12)
		for _, a := range []*plot.Axis{&p.X, &p.Y} {
			a.Label.TextStyle.Font.Size = vg.Points(13)
			a.Tick.Label.Font.Size = vg.Points(12)
		}
		p.Add(plotter.NewGrid())
		lo, hi := math.Inf(1), 0.0
		for i, t := range b.targets {
			r := c.Results[t.Name]
			if r == nil {
				continue
			}
			m := r.Median
			vals := []float64{m.P50, m.P90, m.P99, m.P999, m.Max}
			pts := make(plotter.XYs, 0, len(vals))
			for j, v := range vals {
				if v > 0 {
					pts = append(pts, plotter.XY{X: float64(j), Y: v})
					lo, hi = min(lo, v), max(hi, v)
				}
			}
			if len(pts) == 0 {
				continue
			}
			l, s, err := plotter.NewLinePoints(pts)
			if err != nil {
				return err
			}
			col := palette[i%len(palette)]
			l.Color, l.Width = col, vg.Points(2)
			s.Color, s.Shape, s.Radius = col, draw.CircleGlyph{}, vg.Points(3.5)
			if i > 0 {
				l.Dashes = []vg.Length{vg.Points(6), vg.Points(2)}
				if i%2 == 0 {
					l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
				}
			}
			p.Add(l, s)
			p.Legend.Add(fmt.Sprintf("%s (%.0fk req/s)", t.Name, m.RPS/1000), l, s)
		}
		if hi > 0 {
			p.Y.Min, p.Y.Max = lo/1.5, hi*3
		}
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		return fmt.Errorf("no own-generator GET/SET 16 B cell at c=50 P=1 to plot")
	}
	const w, h = 7 * vg.Inch, 5 * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(w*vg.Length(len(panels)), h), vgimg.UseDPI(110))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Points(10), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(6)}
	canvases := plot.Align([][]*plot.Plot{panels}, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[0][i])
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".plot-*.png")
	if err != nil {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if f, err = os.CreateTemp(filepath.Dir(path), ".plot-*.png"); err != nil {
			return err
		}
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	f.Close()
	return os.Rename(f.Name(), path)
}

// ticks125 labels 1, 2 and 5 times each power of ten, so a log axis spanning less than a decade
// still has readable labels.
type ticks125 struct{}

func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(max(lo, 1e-9))); math.Pow(10, e) <= hi; e++ {
		d := math.Pow(10, e)
		for _, m := range []float64{1, 2, 3, 4, 5, 6, 7, 8, 9} {
			v := m * d
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'f', -1, 64)
			}
			ts = append(ts, t)
		}
	}
	return ts
}
