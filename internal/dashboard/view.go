package dashboard

import (
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// When is a time as pages show it: relative and absolute, in UTC.
type When struct {
	Zero bool
	ISO  string // RFC 3339, for <time datetime>
	Abs  string // 2026-12-01 12:00:00 UTC
	Rel  string // 3 min ago, in 5 min, just now
}

// whenAt describes t as seen at now.
func whenAt(t, now time.Time) When {
	if t.IsZero() {
		return When{Zero: true}
	}
	t = t.UTC()
	w := When{ISO: t.Format(time.RFC3339), Abs: t.Format("2006-01-02 15:04:05") + " UTC"}
	switch d := now.Sub(t); {
	case d > -time.Second && d < time.Second:
		w.Rel = "just now"
	case d > 0:
		w.Rel = webhook.HumanDuration(d) + " ago"
	default:
		w.Rel = "in " + webhook.HumanDuration(-d)
	}
	return w
}

// when is whenAt(t, req.now).
func (req *request) when(t time.Time) When { return whenAt(t, req.now) }

// human writes a duration in words ("2 h 13 min").
func human(d time.Duration) string { return webhook.HumanDuration(d) }

// millis writes a short duration as milliseconds ("12 ms", "0.4 ms").
func millis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(math.Round(ms), 'f', 0, 64) + " ms"
}

// shortID is the first block of a UUID, for tight columns.
func shortID(id string) string {
	if i := strings.IndexByte(id, '-'); i > 0 {
		return id[:i]
	}
	return id
}

// eventList writes a subscription's event names; none means all.
func eventList(names []string) string {
	if len(names) == 0 {
		return "all events"
	}
	return strings.Join(names, ", ")
}

// plural writes n with the singular or plural of a noun: "1 event", "2 events".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func percent(part, whole int) string {
	if whole == 0 {
		return "—"
	}
	return strconv.FormatFloat(100*float64(part)/float64(whole), 'f', 1, 64) + " %"
}

var funcs = template.FuncMap{
	"short":  shortID,
	"events": eventList,
	"human":  human,
	"millis": millis,
	"lower":  strings.ToLower,
	"prefix": func() string { return Prefix },
	"display": func(dest string) string {
		return webhook.DisplayURL(dest)
	},
	"add":        func(a, b int) int { return a + b },
	"statusText": http.StatusText,
	"plural":     plural,
}

// parsePages parses each page of templates/ with the layout and partials.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := strings.TrimPrefix(name, "templates/")
		if base == "base.html" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/base.html", "templates/_*.html", name)
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", base, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// Chart is a line chart of activity, drawn as inline SVG.
type Chart struct {
	ID, Title, Desc string
	Width, Height   int
	Left, Right     int // plot area, x
	Top, Bottom     int // plot area, y
	Series          []ChartSeries
	YTicks, XTicks  []ChartTick
}

// ChartSeries is one line.
type ChartSeries struct {
	Name, Class string
	Points      string // SVG polyline points
	Total, Peak int
}

// ChartTick is an axis label at a position.
type ChartTick struct {
	Pos    int
	Label  string
	Anchor string // start, middle or end (x axis), so the ends stay inside
}

// newChart draws buckets as three lines: events in, deliveries, failures.
// xLabel names the time of a bucket for the x axis.
func newChart(id, title string, buckets []store.ActivityBucket, xTicks int, xLabel func(time.Time) string) Chart {
	c := Chart{ID: id, Title: title, Width: 720, Height: 220, Left: 48, Right: 708, Top: 12, Bottom: 188}
	values := [3][]int{}
	for _, b := range buckets {
		values[0] = append(values[0], b.Events)
		values[1] = append(values[1], b.Delivered)
		values[2] = append(values[2], b.Failed)
	}
	peak := 0
	for _, vs := range values {
		for _, v := range vs {
			peak = max(peak, v)
		}
	}
	top := niceCeil(peak)
	x := func(i int) float64 {
		if len(buckets) <= 1 {
			return float64(c.Left)
		}
		return float64(c.Left) + float64(i)*float64(c.Right-c.Left)/float64(len(buckets)-1)
	}
	y := func(v int) float64 {
		return float64(c.Bottom) - float64(v)*float64(c.Bottom-c.Top)/float64(top)
	}
	names := [3][2]string{{"Events in", "events"}, {"Deliveries", "delivered"}, {"Failures", "failed"}}
	for s, vs := range values {
		var pts strings.Builder
		total, sp := 0, 0
		for i, v := range vs {
			if i > 0 {
				pts.WriteByte(' ')
			}
			fmt.Fprintf(&pts, "%.1f,%.1f", x(i), y(v))
			total += v
			sp = max(sp, v)
		}
		c.Series = append(c.Series, ChartSeries{Name: names[s][0], Class: names[s][1], Points: pts.String(), Total: total, Peak: sp})
	}
	for i := 0; i <= 4; i++ {
		v := top * i / 4
		c.YTicks = append(c.YTicks, ChartTick{Pos: int(math.Round(y(v))), Label: strconv.Itoa(v)})
	}
	if len(buckets) > 1 && xTicks > 0 {
		for i := 0; i <= xTicks; i++ {
			b := i * (len(buckets) - 1) / xTicks
			anchor := "middle"
			switch i {
			case 0:
				anchor = "start"
			case xTicks:
				anchor = "end"
			}
			c.XTicks = append(c.XTicks, ChartTick{Pos: int(math.Round(x(b))), Label: xLabel(buckets[b].Start), Anchor: anchor})
		}
	}
	c.Desc = fmt.Sprintf("%s: %d events in (at most %d a minute), %d deliveries (at most %d a minute), %d failures (at most %d a minute).",
		title, c.Series[0].Total, c.Series[0].Peak, c.Series[1].Total, c.Series[1].Peak, c.Series[2].Total, c.Series[2].Peak)
	return c
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 4, so
// four grid steps are whole numbers).
func niceCeil(n int) int {
	if n <= 4 {
		return 4
	}
	p := 1
	for p*10 < n {
		p *= 10
	}
	for _, m := range []int{1, 2, 4, 5, 10} {
		if m*p >= n && (m*p)%4 == 0 {
			return m * p
		}
	}
	return 10 * p
}
