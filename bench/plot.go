package bench

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Size of the PNG plots: 10 × 5 inches at plotDPI.
const (
	plotDPI      = 96
	plotWidthPx  = 10 * plotDPI
	plotHeightPx = 5 * plotDPI
)

// logSpan is the ratio of the largest to the smallest latency from which
// the CDF's latency axis is logarithmic; narrower spans read better on a
// linear axis.
const logSpan = 10

// throughputPlot draws rep's series: connections, pushes (for scenarios
// that push), deliveries and ACKs per second over the run.
func throughputPlot(rep Report) *plot.Plot {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("herald-bench %s: %d devices", rep.Scenario, rep.Devices)
	p.X.Label.Text = "seconds since the start of the run"
	p.Y.Label.Text = "per second"
	p.X.Min, p.Y.Min = 0, 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	series := []struct {
		name string
		of   func(Sample) float64
		show bool
	}{
		{"connections/s", func(s Sample) float64 { return s.ConnectionsPerSec }, true},
		{"pushes/s", func(s Sample) float64 { return s.PushesPerSec }, Scenario(rep.Scenario) != Hold},
		{"deliveries/s", func(s Sample) float64 { return s.DeliveriesPerSec }, Scenario(rep.Scenario) != Hold},
		{"acks/s", func(s Sample) float64 { return s.AcksPerSec }, Scenario(rep.Scenario) != Hold},
	}
	top := 0.0
	for i, sr := range series {
		if !sr.show || len(rep.Series) == 0 {
			continue
		}
		// A sample's rates are over the span since the previous sample (or
		// the start): drawn as steps that end at the sample.
		xys := make(plotter.XYs, 0, len(rep.Series)+1)
		xys = append(xys, plotter.XY{X: 0, Y: 0})
		for _, s := range rep.Series {
			xys = append(xys, plotter.XY{X: s.T, Y: sr.of(s)})
			top = max(top, sr.of(s))
		}
		if l := addLine(p, sr.name, xys, plotutil.Color(i)); l != nil {
			l.StepStyle = plotter.PreStep
		}
	}
	if top > 0 {
		p.Y.Max = top * 1.3 // room for the legend
	}
	return p
}

// latencyPlot draws rep's latency CDF: the fraction of deliveries (y) that
// took at most a latency (x), on a logarithmic latency axis when the
// latencies span a decade or more, with the reported percentiles in the
// legend.
func latencyPlot(rep Report) *plot.Plot {
	what, count, n := "delivery latency", "delivered", rep.Delivered
	if rep.Scenario == "storm" {
		// storm's latencies are connect times: dial to WELCOME.
		what, count, n = "connect time", "connected", rep.Connected
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("herald-bench %s: %s CDF (%d %s)", rep.Scenario, what, n, count)
	p.X.Label.Text = what + " (ms)"
	p.Y.Label.Text = "fraction at or below"
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	if len(rep.LatencyCDF) == 0 {
		return p
	}
	// A log axis cannot show zero: latencies under a microsecond count as
	// one.
	const floorMs = 0.001
	xys := make(plotter.XYs, len(rep.LatencyCDF))
	lo, hi := rep.LatencyCDF[0].Ms, rep.LatencyCDF[len(rep.LatencyCDF)-1].Ms
	logX := max(lo, floorMs)*logSpan <= hi
	for i, c := range rep.LatencyCDF {
		x := c.Ms
		if logX {
			x = max(x, floorMs)
		}
		xys[i] = plotter.XY{X: x, Y: c.Fraction}
	}
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	} else {
		p.X.Min = 0
	}
	addLine(p, what, xys, plotutil.Color(2))
	for _, pc := range rep.LatencyPercentiles {
		if pc.P == 50 || pc.P == 99 || pc.P == 100 {
			p.Legend.Add(fmt.Sprintf("p%g = %.3g ms", pc.P, pc.Ms))
		}
	}
	return p
}

// addLine adds a line through xys to p, named in the legend, and returns
// it; nil if xys holds NaN or infinite values, which results do not.
func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color) *plotter.Line {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil
	}
	l.Color = c
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
	return l
}

// savePNG draws p on a plotWidthPx × plotHeightPx canvas and writes it to
// path as a PNG.
func savePNG(p *plot.Plot, path string) error {
	c := vgimg.NewWith(
		vgimg.UseWH(vg.Length(plotWidthPx)/plotDPI*vg.Inch, vg.Length(plotHeightPx)/plotDPI*vg.Inch),
		vgimg.UseDPI(plotDPI),
	)
	p.Draw(draw.New(c))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
