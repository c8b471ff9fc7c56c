package simulate

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// PlotFormat returns the plot format for a file name: "svg" or "png".
func PlotFormat(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		return "svg", nil
	case ".png":
		return "png", nil
	}
	return "", fmt.Errorf("plot file %q: expected a .svg or .png name", path)
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

// WritePlot draws the runs' timelines (Config.TimelinePoints must have been
// set): demand and each run's ready capacity on top, each run's replicas
// below, as SVG or PNG.
func WritePlot(w io.Writer, format, title string, results []Result) error {
	if len(results) == 0 || len(results[0].Timeline) == 0 {
		return fmt.Errorf("plot: no timeline recorded")
	}
	top := plot.New()
	top.Title.Text = title
	top.Y.Label.Text = "demand / ready capacity"
	bottom := plot.New()
	bottom.Y.Label.Text = "replicas"
	bottom.X.Label.Text = "time (UTC)"
	for _, p := range []*plot.Plot{top, bottom} {
		p.X.Tick.Marker = plot.TimeTicks{Format: "2006-01-02"}
		p.Legend.Top = true
		p.Add(plotter.NewGrid())
	}

	demand := make(plotter.XYs, len(results[0].Timeline))
	for i, s := range results[0].Timeline {
		demand[i] = plotter.XY{X: float64(s.Time.Unix()), Y: s.Demand}
	}
	dl, err := plotter.NewLine(demand)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	dl.Color = color.Gray{Y: 0x60}
	dl.Width = vg.Points(1.5)
	top.Legend.Add("demand", dl)

	for i, r := range results {
		c := palette[i%len(palette)]
		capXY := make(plotter.XYs, len(r.Timeline))
		repXY := make(plotter.XYs, len(r.Timeline))
		for j, s := range r.Timeline {
			x := float64(s.Time.Unix())
			capXY[j] = plotter.XY{X: x, Y: s.ReadyCapacity}
			repXY[j] = plotter.XY{X: x, Y: s.Replicas}
		}
		cl, err := plotter.NewLine(capXY)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		cl.Color, cl.Width = c, vg.Points(1)
		cl.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		top.Add(cl)
		top.Legend.Add(r.Name+" ready capacity", cl)
		rl, err := plotter.NewLine(repXY)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		rl.Color, rl.Width = c, vg.Points(1)
		bottom.Add(rl)
		bottom.Legend.Add(r.Name, rl)
	}

	// Demand last, on top of the capacity lines.
	top.Add(dl)

	width, height := 32*vg.Centimeter, 20*vg.Centimeter
	var canvas vg.CanvasWriterTo
	switch format {
	case "svg":
		canvas = vgsvg.New(width, height)
	case "png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(width, height)}
	default:
		return fmt.Errorf("plot format %q: expected svg or png", format)
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter, PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	plots := [][]*plot.Plot{{top}, {bottom}}
	canvases := plot.Align(plots, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	if _, err := canvas.WriteTo(w); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}
