package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// plotSweep draws sweep time against live sessions (log-scale x) from the measured levels,
// with the dry runs (reads and decisions only) and the 2× target line, into a PNG at path.
func plotSweep(s *sweepResult, path string) error {
	p := plot.New()
	due := s.Levels[0].Due
	p.Title.Text = fmt.Sprintf("Sweep of %s due sessions vs live sessions (DynamoDB Local)", thousands(int64(due)))
	p.X.Label.Text = "live sessions (log scale)"
	p.Y.Label.Text = "sweep time (ms)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = thousandsTicks{plot.LogTicks{Prec: -1}}
	p.Y.Min = 0
	sweepXY := make(plotter.XYs, len(s.Levels))
	dryXY := make(plotter.XYs, len(s.Levels))
	top := 0.0
	for i, l := range s.Levels {
		sweepXY[i] = plotter.XY{X: float64(l.Live), Y: float64(l.SweepMs)}
		dryXY[i] = plotter.XY{X: float64(l.Live), Y: float64(l.DryRunMs)}
		top = max(top, float64(l.SweepMs))
	}
	limit := 2 * float64(s.Levels[0].SweepMs)
	p.Y.Max = max(top, limit) * 1.45 // room for the legend above the target line
	target, err := plotter.NewLine(plotter.XYs{{X: float64(s.Levels[0].Live), Y: limit}, {X: float64(s.Levels[len(s.Levels)-1].Live), Y: limit}})
	if err != nil {
		return err
	}
	target.Color = color.RGBA{R: 200, A: 255}
	target.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
	p.Add(plotter.NewGrid(), target)
	p.Legend.Add("target: 2× the 1,000-live sweep", target)
	for _, series := range []struct {
		name  string
		xy    plotter.XYs
		color color.Color
		shape draw.GlyphDrawer
	}{
		{fmt.Sprintf("sweep (deletes each due session; %s items read at every level)", thousands(int64(s.Levels[len(s.Levels)-1].ItemsRead))), sweepXY, color.RGBA{B: 200, A: 255}, draw.CircleGlyph{}},
		{"dry run (reads and decisions only)", dryXY, color.RGBA{G: 140, A: 255}, draw.TriangleGlyph{}},
	} {
		l, pts, err := plotter.NewLinePoints(series.xy)
		if err != nil {
			return err
		}
		l.Color, pts.Color, pts.Shape, pts.Radius = series.color, series.color, series.shape, vg.Points(3.5)
		p.Add(l, pts)
		p.Legend.Add(series.name, l, pts)
		labels, err := plotter.NewLabels(plotter.XYLabels{XYs: series.xy, Labels: msLabels(series.xy)})
		if err != nil {
			return err
		}
		for i := range labels.TextStyle {
			labels.TextStyle[i].Color = series.color
		}
		labels.Offset = vg.Point{X: vg.Points(5), Y: vg.Points(4)}
		p.Add(labels)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

func msLabels(xy plotter.XYs) []string {
	out := make([]string, len(xy))
	for i, v := range xy {
		out[i] = thousands(int64(v.Y)) + " ms"
	}
	return out
}

// thousandsTicks labels the major ticks of another ticker with thousands separators.
type thousandsTicks struct{ plot.Ticker }

func (t thousandsTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := t.Ticker.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = thousands(int64(ticks[i].Value + 0.5))
		}
	}
	return ticks
}
