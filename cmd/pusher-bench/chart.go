package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// chartPoint is one offered load of the fan-out 1 sweep.
type chartPoint struct {
	rate            float64 // the target rate, 0 = unpaced
	offered         float64 // measured offered msg/s
	during, overall float64 // delivered msg/s
	p50, p95, p99   time.Duration
	label           string
	runs            int // results the point is the median of
}

// chartPoints returns the points of the fan-out 1 sweep, one per target
// rate, each value the median over the runs at that rate (the repeats),
// ordered by measured offered load.
func chartPoints(results []suiteResult) []chartPoint {
	byRate := map[float64][]runStats{}
	var rates []float64
	for _, r := range results {
		if r.run.kind != kindSweep {
			continue
		}
		if _, ok := byRate[r.run.rate]; !ok {
			rates = append(rates, r.run.rate)
		}
		byRate[r.run.rate] = append(byRate[r.run.rate], r.s)
	}
	var out []chartPoint
	for _, rate := range rates {
		ss := byRate[rate]
		f := func(get func(runStats) float64) float64 {
			vs := make([]float64, len(ss))
			for i, s := range ss {
				vs[i] = get(s)
			}
			return median(vs)
		}
		d := func(get func(runStats) time.Duration) time.Duration {
			return time.Duration(f(func(s runStats) float64 { return float64(get(s)) }))
		}
		label := "unpaced"
		if rate > 0 {
			label = thousands(rate) + "/s"
		}
		out = append(out, chartPoint{rate: rate, label: label, runs: len(ss),
			offered: f(func(s runStats) float64 { return s.offered }),
			during:  f(func(s runStats) float64 { return s.during }),
			overall: f(func(s runStats) float64 { return s.all }),
			p50:     d(func(s runStats) time.Duration { return s.p50 }),
			p95:     d(func(s runStats) time.Duration { return s.p95 }),
			p99:     d(func(s runStats) time.Duration { return s.p99 })})
	}
	slices.SortStableFunc(out, func(a, b chartPoint) int { return cmp.Compare(a.offered, b.offered) })
	return out
}

// median returns the median of vs (the mean of the middle two for an even
// count), 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// errNoPoints: the chart needs a sweep.
var errNoPoints = errors.New("no fan-out 1 sweep results to chart")

// minChartLatency is the floor of the latency panel's log scale.
const minChartLatency = 0.1 // ms

// latencyMS returns d in milliseconds, at least minChartLatency.
func latencyMS(d time.Duration) float64 {
	return max(minChartLatency, float64(d)/float64(time.Millisecond))
}

// renderChart draws the two panels, delivered rate and latency
// percentiles against the offered load, as a PNG.
func renderChart(points []chartPoint) ([]byte, error) {
	if len(points) == 0 {
		return nil, errNoPoints
	}
	xy := func(y func(chartPoint) float64) plotter.XYs {
		out := make(plotter.XYs, len(points))
		for i, p := range points {
			out[i] = plotter.XY{X: p.offered, Y: y(p)}
		}
		return out
	}
	rates := plot.New()
	rates.Title.Text = "Delivered vs offered load (fan-out 1, single-event publishes)"
	rates.X.Label.Text = "offered msg/s (measured)"
	rates.Y.Label.Text = "delivered msg/s"
	rates.X.Min, rates.Y.Min = 0, 0
	rates.X.Tick.Marker, rates.Y.Tick.Marker = rateTicks{}, rateTicks{}
	rates.Add(plotter.NewGrid())
	if err := plotutil.AddLinePoints(rates,
		"offered (y = x)", xy(func(p chartPoint) float64 { return p.offered }),
		"delivered during ingest", xy(func(p chartPoint) float64 { return p.during }),
		"delivered overall (first publish → last arrival)", xy(func(p chartPoint) float64 { return p.overall })); err != nil {
		return nil, err
	}
	rates.Legend.Top, rates.Legend.Left = true, true

	lat := plot.New()
	lat.Title.Text = "Latency, publish request → first arrival"
	lat.X.Label.Text = "offered msg/s (measured)"
	lat.Y.Label.Text = "latency (log scale)"
	lat.X.Min = 0
	lat.X.Tick.Marker = rateTicks{}
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = latencyTicks{}
	lat.Add(plotter.NewGrid())
	p99 := xy(func(p chartPoint) float64 { return latencyMS(p.p99) })
	if err := plotutil.AddLinePoints(lat,
		"p50", xy(func(p chartPoint) float64 { return latencyMS(p.p50) }),
		"p95", xy(func(p chartPoint) float64 { return latencyMS(p.p95) }),
		"p99", p99); err != nil {
		return nil, err
	}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: p99, Labels: pointLabels(points, 0.12)})
	if err != nil {
		return nil, err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].XAlign, labels.TextStyle[i].YAlign = draw.XCenter, draw.YBottom
	}
	labels.Offset = vg.Point{Y: 4}
	lat.Add(labels)
	lat.Legend.Top, lat.Legend.Left = false, false // bottom right: the curves rise to the right
	// Whole decades, so the axis has at least two labelled ticks.
	lat.Y.Min = math.Pow(10, math.Floor(math.Log10(lat.Y.Min)))
	lat.Y.Max = math.Pow(10, math.Ceil(math.Log10(lat.Y.Max*1.0001)))

	img := vgimg.NewWith(vgimg.UseWH(14*vg.Inch, 5*vg.Inch), vgimg.UseDPI(96))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Inch / 2, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8,
		PadLeft: vg.Inch / 8, PadRight: vg.Inch / 4}
	canvases := plot.Align([][]*plot.Plot{{rates, lat}}, tiles, dc)
	rates.Draw(canvases[0][0])
	lat.Draw(canvases[0][1])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeChart writes the chart of points to path as a PNG.
func writeChart(path string, points []chartPoint) error {
	png, err := renderChart(points)
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// rateTicks marks a msg/s axis at a step of 1, 2 or 5 × 10^k that gives
// at most about 8 labelled ticks, labelled with thousands separators, with
// unlabelled ticks halfway.
type rateTicks struct{}

func (rateTicks) Ticks(lo, hi float64) []plot.Tick {
	if hi <= lo {
		return []plot.Tick{{Value: lo, Label: thousands(lo)}}
	}
	step := niceStep((hi - lo) / 8)
	var out []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+step/1e9; v += step {
		out = append(out, plot.Tick{Value: v, Label: thousands(v)})
		if mid := v + step/2; mid <= hi {
			out = append(out, plot.Tick{Value: mid})
		}
	}
	return out
}

// niceStep returns the smallest 1, 2 or 5 × 10^k that is at least raw.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw*(1-1e-9) {
			return m * pow
		}
	}
	return 10 * pow
}

// latencyTicks marks a latency axis in milliseconds on a log scale: a
// labelled tick at every power of ten ("0.1 ms" … "100 ms", "1 s", "10 s")
// and ones at 2× and 5×, labelled too when the range holds no power of ten.
type latencyTicks struct{}

func (latencyTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi < lo {
		return nil
	}
	var out []plot.Tick
	labelled := false
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 {
				t.Label, labelled = msLabel(v), true
			}
			out = append(out, t)
		}
	}
	if !labelled {
		for i := range out {
			out[i].Label = msLabel(out[i].Value)
		}
	}
	return out
}

// msLabel labels a tick at ms milliseconds: "0.2 ms", "5 ms", "100 ms",
// "2 s".
func msLabel(ms float64) string {
	switch {
	case ms < 1:
		return strconv.FormatFloat(ms, 'f', -1, 64) + " ms"
	case ms < 1000:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return strconv.FormatFloat(ms/1000, 'f', -1, 64) + " s"
}

// pointLabels returns the label of each point (ordered by offered load),
// except that a point less than minGap × the largest offered load right of
// the last labelled one adds its label to that one and gets none, so that
// labels do not overlap.
func pointLabels(points []chartPoint, minGap float64) []string {
	out := make([]string, len(points))
	if len(points) == 0 {
		return out
	}
	gap := minGap * points[len(points)-1].offered
	last := -1
	for i, p := range points {
		if last >= 0 && p.offered-points[last].offered < gap {
			out[last] += ", " + p.label
			continue
		}
		out[i], last = p.label, i
	}
	return out
}
