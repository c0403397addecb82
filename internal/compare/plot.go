package compare

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot file names inside the report directory.
const (
	AUCPlot    = "auc.png"    // test AUC per task and model, error bars = std over seeds
	SweepPlot  = "sweep.png"  // DCRNN AUC per task, parameters and training time against rho
	CurvesPlot = "curves.png" // validation mean AUC per epoch, seed 1 of each model
	GatesPlot  = "gates.png"  // MMoE/PLE: mean gate weight per expert, stacked per gate
)

const plotDPI = 120

// palette is Tableau 10: ten colours that stay apart, so up to ten models
// get one each (plotutil's palette has seven).
var palette = []color.RGBA{
	{0x4e, 0x79, 0xa7, 0xff}, {0xf2, 0x8e, 0x2b, 0xff}, {0xe1, 0x57, 0x59, 0xff}, {0x76, 0xb7, 0xb2, 0xff},
	{0x59, 0xa1, 0x4f, 0xff}, {0xed, 0xc9, 0x48, 0xff}, {0xb0, 0x7a, 0xa1, 0xff}, {0xff, 0x9d, 0xa7, 0xff},
	{0x9c, 0x75, 0x5f, 0xff}, {0xba, 0xb0, 0xac, 0xff},
}

// color10 returns colour i of the palette (cycling).
func color10(i int) color.Color { return palette[i%len(palette)] }

// pointsXYErr is points with symmetric vertical error bars.
type pointsXYErr struct {
	plotter.XYs
	plotter.YErrors
}

// writePlots draws the plots of rep into dir and returns the names written.
func writePlots(dir string, rep *Report) ([]string, error) {
	var written []string
	if len(rep.Models) > 0 {
		if err := savePanels(filepath.Join(dir, AUCPlot), aucPanels(rep), 2, 5*vg.Inch, 4.2*vg.Inch); err != nil {
			return written, err
		}
		written = append(written, AUCPlot)
		p, err := curvesPlot(rep)
		if err != nil {
			return written, err
		}
		if err := savePanels(filepath.Join(dir, CurvesPlot), []*plot.Plot{p}, 1, 8*vg.Inch, 5*vg.Inch); err != nil {
			return written, err
		}
		written = append(written, CurvesPlot)
	}
	if panels, heights, err := gatePanels(rep); err != nil {
		return written, err
	} else if len(panels) > 0 {
		if err := saveStacked(filepath.Join(dir, GatesPlot), panels, heights, 8*vg.Inch); err != nil {
			return written, err
		}
		written = append(written, GatesPlot)
	}
	if len(rep.Sweep) > 0 {
		panels, err := sweepPanels(rep)
		if err != nil {
			return written, err
		}
		if err := savePanels(filepath.Join(dir, SweepPlot), panels, 2, 5*vg.Inch, 3.6*vg.Inch); err != nil {
			return written, err
		}
		written = append(written, SweepPlot)
	}
	return written, nil
}

// style sets readable fonts on p.
func style(p *plot.Plot) {
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Title.Padding = vg.Points(6)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(11)
		a.Tick.Label.Font.Size = vg.Points(10)
	}
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.Add(plotter.NewGrid())
}

// aucPanels draws one panel per task: mean test AUC per model (filled dot),
// ± one standard deviation over seeds (error bar), each seed (ring).
func aucPanels(rep *Report) []*plot.Plot {
	var panels []*plot.Plot
	var models []string
	for _, m := range rep.ModelOrder {
		if rep.Models[m] != nil {
			models = append(models, m)
		}
	}
	for _, task := range rep.TaskOrder {
		p := plot.New()
		style(p)
		p.Title.Text = fmt.Sprintf("%s: test AUC (mean ± std, %d seeds)", task, rep.Seeds)
		p.Y.Label.Text = "test AUC"
		p.X.Label.Text = "model"
		lo, hi := math.Inf(1), math.Inf(-1)
		for i, m := range models {
			ts, ok := rep.Models[m].Tasks[task]
			if !ok || math.IsNaN(float64(ts.AUCMean)) {
				continue
			}
			c := color10(i)
			pt := pointsXYErr{XYs: plotter.XYs{{X: float64(i), Y: float64(ts.AUCMean)}},
				YErrors: plotter.YErrors{{Low: float64(ts.AUCStd), High: float64(ts.AUCStd)}}}
			if eb, err := plotter.NewYErrorBars(pt); err == nil {
				eb.LineStyle.Color = c
				eb.LineStyle.Width = vg.Points(1.5)
				eb.CapWidth = vg.Points(10)
				p.Add(eb)
			}
			if s, err := plotter.NewScatter(pt); err == nil {
				s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(4), Shape: draw.CircleGlyph{}}
				p.Add(s)
			}
			var seeds plotter.XYs
			for _, a := range ts.AUCs {
				seeds = append(seeds, plotter.XY{X: float64(i) + 0.18, Y: float64(a)})
				lo, hi = math.Min(lo, float64(a)), math.Max(hi, float64(a))
			}
			if s, err := plotter.NewScatter(seeds); err == nil && len(seeds) > 1 {
				s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(2.5), Shape: draw.RingGlyph{}}
				p.Add(s)
			}
			lo = math.Min(lo, float64(ts.AUCMean-ts.AUCStd))
			hi = math.Max(hi, float64(ts.AUCMean+ts.AUCStd))
		}
		if lo < hi {
			pad := (hi - lo) * 0.12
			p.Y.Min, p.Y.Max = lo-pad, hi+pad
		}
		p.NominalX(models...)
		p.X.Min, p.X.Max = -0.6, float64(len(models))-0.4
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
		p.Y.Tick.Marker = precisionTicks{}
		panels = append(panels, p)
	}
	return panels
}

// curvesPlot draws the validation mean AUC after each epoch, seed 1 of each
// model (the first seed run).
func curvesPlot(rep *Report) (*plot.Plot, error) {
	p := plot.New()
	style(p)
	p.Title.Text = "Validation mean AUC over tasks per epoch (seed 1)"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "validation mean AUC"
	maxEpochs := 0
	for i, m := range rep.ModelOrder {
		s := rep.Models[m]
		if s == nil || len(s.ValidAUC) == 0 {
			continue
		}
		var xy plotter.XYs
		for e, v := range s.ValidAUC[0] {
			if !math.IsNaN(float64(v)) {
				xy = append(xy, plotter.XY{X: float64(e + 1), Y: float64(v)})
			}
		}
		if len(xy) == 0 {
			continue
		}
		maxEpochs = max(maxEpochs, len(s.ValidAUC[0]))
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		l.LineStyle.Color = color10(i)
		l.LineStyle.Width = vg.Points(1.6)
		l.LineStyle.Dashes = plotutil.Dashes(i / len(palette))
		pts.GlyphStyle = draw.GlyphStyle{Color: color10(i), Radius: vg.Points(3), Shape: plotutil.Shape(i)}
		p.Add(l, pts)
		label := m
		if best := s.BestEpochs[0]; best > 0 {
			label = fmt.Sprintf("%s (best epoch %d)", m, best)
		}
		p.Legend.Add(label, l, pts)
	}
	// When the first epoch sits far below the rest it would squash the
	// curves into a band; the axis then starts near the later epochs (set
	// after Add, which widens the axes to the data).
	var first, later []float64
	for _, m := range rep.ModelOrder {
		if s := rep.Models[m]; s != nil && len(s.ValidAUC) > 0 {
			for e, v := range s.ValidAUC[0] {
				if f := float64(v); !math.IsNaN(f) && e == 0 {
					first = append(first, f)
				} else if !math.IsNaN(f) {
					later = append(later, f)
				}
			}
		}
	}
	if len(later) > 0 && len(first) > 0 {
		lo, hi := slices.Min(later), slices.Max(later)
		if f := slices.Min(first); hi > lo && f < lo-(hi-lo) {
			p.Y.Min, p.Y.Max = lo-(hi-lo)*0.15, hi+(hi-lo)*0.08
			p.X.Label.Text = "epoch (epoch 1, lower, is cut off)"
		}
	}
	// The legend sits right of the last epoch, in room left free for it.
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(4)
	p.Legend.YOffs = -vg.Points(4)
	last := float64(max(maxEpochs, 1))
	p.X.Tick.Marker = integerTicks{upTo: last}
	p.X.Min, p.X.Max = 0.7, last+0.3+(last-0.7)*0.55
	p.Y.Tick.Marker = precisionTicks{}
	return p, nil
}

// sweepPanels draws DCRNN's test AUC per task against rho (mean ± std) and
// its parameter count and mean training time against rho.
func sweepPanels(rep *Report) ([]*plot.Plot, error) {
	var panels []*plot.Plot
	rhoAxis := func(p *plot.Plot) {
		p.X.Label.Text = "rho = H_s / (H_s + H_p)  (0: private per task, 1: hard sharing)"
		p.X.Min, p.X.Max = -0.05, 1.05
		p.X.Tick.Marker = rhoTicks(rep.Sweep)
	}
	blue := color10(0)
	for _, task := range rep.TaskOrder {
		var pts pointsXYErr
		for _, sp := range rep.Sweep {
			ts, ok := sp.Tasks[task]
			if !ok {
				continue
			}
			pts.XYs = append(pts.XYs, plotter.XY{X: sp.Rho, Y: float64(ts.AUCMean)})
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{float64(ts.AUCStd), float64(ts.AUCStd)})
		}
		p := plot.New()
		style(p)
		p.Title.Text = fmt.Sprintf("DCRNN %s: test AUC vs rho (mean ± std, %d seeds)", task, rep.Seeds)
		p.Y.Label.Text = "test AUC"
		rhoAxis(p)
		if len(pts.XYs) > 0 {
			l, sc, err := plotter.NewLinePoints(pts)
			if err != nil {
				return nil, err
			}
			l.LineStyle.Color, l.LineStyle.Width = blue, vg.Points(1.5)
			sc.GlyphStyle = draw.GlyphStyle{Color: blue, Radius: vg.Points(3.5), Shape: draw.CircleGlyph{}}
			eb, err := plotter.NewYErrorBars(pts)
			if err != nil {
				return nil, err
			}
			eb.LineStyle.Color, eb.LineStyle.Width, eb.CapWidth = blue, vg.Points(1.2), vg.Points(8)
			p.Add(l, sc, eb)
			p.Y.Tick.Marker = precisionTicks{}
		}
		panels = append(panels, p)
	}
	cost := func(title, ylabel string, c color.Color, val func(SweepPoint) float64, ticks plot.Ticker) (*plot.Plot, error) {
		var xy plotter.XYs
		for _, sp := range rep.Sweep {
			xy = append(xy, plotter.XY{X: sp.Rho, Y: val(sp)})
		}
		p := plot.New()
		style(p)
		p.Title.Text = title
		p.Y.Label.Text = ylabel
		rhoAxis(p)
		l, sc, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		l.LineStyle.Color, l.LineStyle.Width = c, vg.Points(1.5)
		sc.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(3.5), Shape: draw.SquareGlyph{}}
		p.Add(l, sc)
		p.Y.Min = 0
		if ticks != nil {
			p.Y.Tick.Marker = ticks
		}
		return p, nil
	}
	p, err := cost("DCRNN cost: parameters vs rho", "parameters (dense + embeddings)", color10(1),
		func(sp SweepPoint) float64 { return float64(sp.Params) }, thousandsTicks{})
	if err != nil {
		return nil, err
	}
	panels = append(panels, p)
	p, err = cost(fmt.Sprintf("DCRNN cost: training time vs rho (mean, %d seeds)", rep.Seeds), "training seconds (all epochs)", color10(2),
		func(sp SweepPoint) float64 { return float64(sp.TrainSecondsMean) }, nil)
	if err != nil {
		return nil, err
	}
	panels = append(panels, p)
	return panels, nil
}

// gatePanels draws, per model with expert gates, one horizontal bar per
// gate split into the mean weight of each expert (one colour per expert),
// and the height each panel needs.
func gatePanels(rep *Report) ([]*plot.Plot, []vg.Length, error) {
	var (
		panels  []*plot.Plot
		heights []vg.Length
	)
	for _, m := range rep.ModelOrder {
		s := rep.Models[m]
		if s == nil || len(s.Gates) == 0 {
			continue
		}
		var experts []string
		for _, g := range s.Gates {
			for _, e := range g.Experts {
				if !slices.Contains(experts, e) {
					experts = append(experts, e)
				}
			}
		}
		p := plot.New()
		style(p)
		p.Title.Text = fmt.Sprintf("%s: mean gate weight per expert over the test rows (seed 1)", m)
		p.X.Label.Text = "share of the gate's weight"
		var below *plotter.BarChart
		// Gates are drawn top to bottom in report order.
		n := len(s.Gates)
		for k, e := range experts {
			vals := make(plotter.Values, n)
			for i, g := range s.Gates {
				if j := slices.Index(g.Experts, e); j >= 0 {
					vals[n-1-i] = g.Weights[j]
				}
			}
			bc, err := plotter.NewBarChart(vals, vg.Points(18))
			if err != nil {
				return nil, nil, err
			}
			bc.Horizontal = true
			bc.Color = color10(k)
			bc.LineStyle.Width = vg.Points(0.5)
			bc.LineStyle.Color = color.White
			if below != nil {
				bc.StackOn(below)
			}
			below = bc
			p.Add(bc)
			p.Legend.Add(e, bc)
		}
		names := make([]string, n)
		for i, g := range s.Gates {
			names[n-1-i] = g.Gate
		}
		p.NominalY(names...)
		p.X.Min, p.X.Max = 0, 1.32 // room right of the bars for the legend
		p.X.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 0.25, Label: "0.25"}, {Value: 0.5, Label: "0.5"},
			{Value: 0.75, Label: "0.75"}, {Value: 1, Label: "1"}}
		p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
		p.Legend.Top = true
		p.Legend.XOffs = -vg.Points(4)
		panels = append(panels, p)
		heights = append(heights, 1.3*vg.Inch+0.4*vg.Inch*vg.Length(max(n, len(experts)/2)))
	}
	return panels, heights, nil
}

// saveStacked draws the panels one under the other, panel i heights[i]
// tall, and writes a PNG atomically.
func saveStacked(path string, panels []*plot.Plot, heights []vg.Length, w vg.Length) error {
	var total vg.Length
	for _, h := range heights {
		total += h
	}
	img := vgimg.NewWith(vgimg.UseWH(w, total), vgimg.UseDPI(plotDPI))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	var top vg.Length // distance of the panel's top from the canvas top
	pad := vg.Points(10)
	for i, p := range panels {
		bottom := total - top - heights[i]
		p.Draw(draw.Crop(dc, pad, -pad, bottom+pad, -top-pad))
		top += heights[i]
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("compare: %s: %w", path, err)
	}
	return writeFile(path, buf.Bytes())
}

// savePanels lays the panels out cols per row, each w×h, and writes a PNG
// atomically.
func savePanels(path string, panels []*plot.Plot, cols int, w, h vg.Length) error {
	cols = min(cols, len(panels))
	rows := (len(panels) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, cols)
		for c := range grid[r] {
			if k := r*cols + c; k < len(panels) {
				grid[r][c] = panels[k]
			}
		}
	}
	img := vgimg.NewWith(vgimg.UseWH(w*vg.Length(cols), h*vg.Length(rows)), vgimg.UseDPI(plotDPI))
	dc := draw.New(img)
	// A white background (PNG is transparent otherwise).
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(18), PadY: vg.Points(18),
		PadTop: vg.Points(10), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(24)}
	canvases := plot.Align(grid, tiles, dc)
	for r := range grid {
		for c := range grid[r] {
			if grid[r][c] != nil {
				grid[r][c].Draw(canvases[r][c])
			}
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("compare: %s: %w", path, err)
	}
	return writeFile(path, buf.Bytes())
}

// precisionTicks label four to ten round values (steps 1, 2 or 5 times a
// power of ten) with just enough digits to tell close AUCs apart, with
// unlabelled minor ticks between them.
type precisionTicks struct{}

func (precisionTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	// The largest round step that gives at least four labels.
	mag := math.Pow(10, math.Floor(math.Log10(hi-lo)))
	step := mag
	for _, c := range []float64{5, 2, 1, 0.5, 0.2, 0.1, 0.05} {
		step = c * mag
		if (hi-lo)/step >= 4 {
			break
		}
	}
	mag = math.Pow(10, math.Floor(math.Log10(step)+1e-9))
	digits := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	minor := step / 2
	if step/mag == 2 {
		minor = step / 4
	}
	var ticks []plot.Tick
	for k := math.Ceil(lo / minor); k*minor <= hi+minor*1e-9; k++ {
		v := k * minor
		t := plot.Tick{Value: v}
		if r := v / step; math.Abs(r-math.Round(r)) < 1e-6 {
			t.Label = fmt.Sprintf("%.*f", digits, v)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// integerTicks label the whole numbers in range up to upTo (epochs).
type integerTicks struct{ upTo float64 }

func (it integerTicks) Ticks(lo, hi float64) []plot.Tick {
	var t []plot.Tick
	hi = math.Min(hi, it.upTo)
	step := math.Max(1, math.Ceil((hi-lo)/12))
	for v := math.Ceil(lo); v <= hi; v += step {
		t = append(t, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f", v)})
	}
	return t
}

// rhoTicks label the swept rho values.
func rhoTicks(sweep []SweepPoint) plot.ConstantTicks {
	var t plot.ConstantTicks
	for _, sp := range sweep {
		t = append(t, plot.Tick{Value: sp.Rho, Label: fmt.Sprintf("%g", sp.Rho)})
	}
	return t
}

// thousandsTicks labels counts as 12k, 1.2M.
type thousandsTicks struct{}

func (thousandsTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = humanCount(ticks[i].Value)
		}
	}
	return ticks
}

// humanCount writes n as 950, 12.5k or 1.25M.
func humanCount(n float64) string {
	switch a := math.Abs(n); {
	case a >= 1e6:
		return trimZeros(fmt.Sprintf("%.2f", n/1e6)) + "M"
	case a >= 1e3:
		return trimZeros(fmt.Sprintf("%.1f", n/1e3)) + "k"
	default:
		return fmt.Sprintf("%.0f", n)
	}
}

func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	for len(s) > 1 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}
