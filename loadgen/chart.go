package loadgen

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Chart is a line chart drawn as SVG: no script, no external resource, so
// that it can sit inline in an HTML report or as a file beside Markdown.
type Chart struct {
	Title  string
	XLabel string
	YLabel string
	XScale Scale
	YScale Scale
	Series []Series
}

// Series is one line of a Chart.
type Series struct {
	Name   string
	Points []Point
	Dashed bool
	// Color is an index into the palette; series of one run share it.
	Color int
}

// Point is an (x, y) pair in data units.
type Point struct{ X, Y float64 }

// Scale is how an axis maps data to space.
type Scale int

// Scales of a Chart's axes.
const (
	Linear Scale = iota
	// Log is base 10; values at or below 0 are left out.
	Log
	// Nines maps a percentile p to -log10(1 - p/100), so that 90, 99, 99.9
	// and 99.99 are evenly spaced (an HDR percentile plot); for x only.
	Nines
)

// Chart size, in pixels.
const (
	chartW, chartH                   = 760, 380
	padLeft, padRight, padTop, padBt = 72, 40, 40, 52
	maxNines                         = 5.0 // 99.999%
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// SVG draws the chart.
func (c Chart) SVG() string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", padLeft, esc(c.Title))

	xs, ys := c.axis(true), c.axis(false)
	x0, x1 := float64(padLeft), float64(chartW-padRight)
	y0, y1 := float64(chartH-padBt), float64(padTop)
	px := func(v float64) float64 { return x0 + (xs.pos(v)-xs.lo)/(xs.hi-xs.lo)*(x1-x0) }
	py := func(v float64) float64 { return y0 - (ys.pos(v)-ys.lo)/(ys.hi-ys.lo)*(y0-y1) }

	// Grid and ticks.
	for _, t := range xs.ticks {
		x := x0 + (t.pos-xs.lo)/(xs.hi-xs.lo)*(x1-x0)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`+"\n", x, y0, x, y1)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#444">%s</text>`+"\n", x, y0+16, esc(t.label))
	}
	for _, t := range ys.ticks {
		y := y0 - (t.pos-ys.lo)/(ys.hi-ys.lo)*(y0-y1)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`+"\n", x0, y, x1, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#444">%s</text>`+"\n", x0-6, y+4, esc(t.label))
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#888"/>`+"\n", x0, y1, x1-x0, y0-y1)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#222">%s</text>`+"\n", (x0+x1)/2, chartH-12, esc(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle" fill="#222">%s</text>`+"\n", (y0+y1)/2, esc(c.YLabel))

	// Lines.
	for _, s := range c.Series {
		var pts []string
		for _, p := range s.Points {
			if !xs.valid(p.X) || !ys.valid(p.Y) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.X), py(p.Y)))
		}
		if len(pts) == 0 {
			continue
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		color := palette[s.Color%len(palette)]
		if len(pts) == 1 {
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n",
				strings.Split(pts[0], ",")[0], strings.Split(pts[0], ",")[1], color)
			continue
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8"%s points="%s"/>`+"\n",
			color, dash, strings.Join(pts, " "))
	}

	// Legend, top left inside the plot.
	for i, s := range c.Series {
		y := y1 + 14 + float64(i)*16
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n",
			x0+10, y-4, x0+34, y-4, palette[s.Color%len(palette)], dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#222">%s</text>`+"\n", x0+40, y, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func esc(s string) string { return html.EscapeString(s) }

// axis is one axis's range and ticks, in transformed units (pos).
type axis struct {
	scale  Scale
	lo, hi float64
	ticks  []tick
}

type tick struct {
	pos   float64
	label string
}

// pos transforms a data value.
func (a axis) pos(v float64) float64 {
	switch a.scale {
	case Log:
		return math.Log10(v)
	case Nines:
		if v >= 100 {
			return maxNines
		}
		return min(-math.Log10(1-v/100), maxNines)
	}
	return v
}

func (a axis) valid(v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	return a.scale != Log || v > 0
}

// axis fits an axis to the data.
func (c Chart) axis(isX bool) axis {
	a := axis{scale: c.YScale}
	if isX {
		a.scale = c.XScale
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			v := p.Y
			if isX {
				v = p.X
			}
			if !a.valid(v) {
				continue
			}
			lo, hi = min(lo, a.pos(v)), max(hi, a.pos(v))
		}
	}
	if math.IsInf(lo, 1) { // no data
		lo, hi = 0, 1
	}
	switch a.scale {
	case Nines:
		a.lo, a.hi = 0, math.Max(1, math.Ceil(hi))
		for n := 0.0; n <= a.hi; n++ {
			a.ticks = append(a.ticks, tick{n, ninesLabel(int(n))})
		}
	case Log:
		a.lo, a.hi = math.Floor(lo), math.Ceil(hi)
		if a.hi == a.lo {
			a.hi = a.lo + 1
		}
		for d := a.lo; d <= a.hi; d++ {
			a.ticks = append(a.ticks, tick{d, numLabel(math.Pow(10, d))})
		}
	default:
		if !isX || lo > 0 {
			lo = math.Min(lo, 0) // throughput and the like start at 0
		}
		if hi <= lo {
			hi = lo + 1
		}
		step := niceStep((hi - lo) / 5)
		a.lo = math.Floor(lo/step) * step
		a.hi = math.Ceil(hi/step) * step
		for v := a.lo; v <= a.hi+step/2; v += step {
			a.ticks = append(a.ticks, tick{v, numLabel(v)})
		}
	}
	return a
}

// niceStep rounds a tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func numLabel(v float64) string {
	switch av := math.Abs(v); {
	case av == 0:
		return "0"
	case av >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
	case av >= 1e4:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// ninesLabel is the percentile n nines stand for: 0%, 90%, 99%, 99.9%…
func ninesLabel(n int) string {
	if n == 0 {
		return "0%"
	}
	if n == 1 {
		return "90%"
	}
	if n == 2 {
		return "99%"
	}
	return "99." + strings.Repeat("9", n-2) + "%"
}
