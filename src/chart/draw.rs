//! Drawing a [`Chart`] on any plotters backend: title, legend, axes, bars or lines, category
//! labels. Layout is computed from the chart size and measured text, so it is the same on every
//! run and on both backends.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use plotters::coord::ranged1d::{BoldPoints, Ranged};

use super::glyphs::Glyphs;
use super::text::{self, clean};
use super::{Chart, ChartError, ChartKind, LineSeries, Series};

/// Okabe-Ito, the colour-blind-safe palette, in an order where neighbours differ most; more
/// series than colours reuse them from the start.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0xF0, 0xE4, 0x42), // yellow
    RGBColor(0x00, 0x00, 0x00), // black
];

const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
const GRID: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);
const AXIS: RGBColor = RGBColor(0x66, 0x66, 0x66);
const NOTE: RGBColor = RGBColor(0x77, 0x77, 0x77);
/// plotters' own tick labels are drawn in this (SVG skips fully transparent text); ours replace
/// them.
const INVISIBLE: RGBAColor = RGBAColor(0, 0, 0, 0.0);

/// Length of tick marks, in pixels.
const TICK: i32 = 5;
/// Y tick labels asked of plotters; the labels drawn here use the same key points.
const Y_TICKS: usize = 8;
const X_TICKS: usize = 10;

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Turns a plotters error (its type differs per backend) into ours.
pub(super) fn draw_err<E: std::error::Error + Send + Sync>(
    e: DrawingAreaErrorKind<E>,
) -> ChartError {
    ChartError::Draw(e.to_string())
}

/// Sizes in pixels, scaled from the 900 x 500 the layout was tuned for.
struct Sizes {
    pad: i32,
    title: f64,
    desc: f64,
    tick: f64,
    legend: f64,
}

impl Sizes {
    fn new(w: u32, h: u32) -> Self {
        let s = (f64::from(w) / 900.0)
            .min(f64::from(h) / 500.0)
            .clamp(0.6, 3.0);
        Sizes {
            pad: (12.0 * s).round() as i32,
            title: even(22.0 * s),
            desc: even(14.0 * s),
            tick: even(12.0 * s),
            legend: even(14.0 * s),
        }
    }
}

/// A font size rounded to an even number of pixels. plotters places each glyph at `size / 2`
/// plus its top and truncates toward zero, so with an odd size glyphs above and below that line
/// round differently and dots float a pixel above the baseline.
fn even(size: f64) -> f64 {
    ((size / 2.0).round() * 2.0).max(8.0)
}

fn style(size: f64, colour: &'static RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from(text::font(size))
        .color(colour)
        .pos(Pos::new(h, v))
}

/// Where text goes, and how: every label of a chart is drawn through [`Canvas::text`] (plotters
/// draws only lines and tick marks), so PNGs can get even glyph spacing.
struct Canvas<'a, DB: DrawingBackend> {
    root: &'a DrawingArea<DB, Shift>,
    /// Set for bitmaps: place glyphs one by one (see [`Glyphs`]).
    glyphs: Option<&'static Glyphs>,
}

impl<DB: DrawingBackend> Canvas<'_, DB> {
    /// Draws `s` anchored at `pos`; `up` turns it to read bottom to top.
    #[allow(clippy::too_many_arguments)]
    fn text(
        &self,
        s: &str,
        size: f64,
        colour: &'static RGBColor,
        h: HPos,
        v: VPos,
        up: bool,
        pos: (i32, i32),
    ) -> Result<(), ChartError> {
        let turn = |st: TextStyle<'static>| {
            if up {
                st.transform(FontTransform::Rotate270)
            } else {
                st
            }
        };
        let Some(glyphs) = self.glyphs else {
            return self
                .root
                .draw_text(s, &turn(style(size, colour, h, v)), pos)
                .map_err(draw_err);
        };
        let k = glyphs.scale(size);
        let mut placed = Vec::with_capacity(s.len());
        let mut pen = 0.0;
        for c in s.chars() {
            let (advance, bearing) = match glyphs.metrics(c) {
                Some(m) => (m.advance * k, m.bearing * k),
                None => (
                    f64::from(text::width(c.encode_utf8(&mut [0; 4]), size)?),
                    0.0,
                ),
            };
            if !c.is_whitespace() {
                placed.push((c, pen, bearing));
            }
            pen += advance;
        }
        let start = match h {
            HPos::Left => 0.0,
            HPos::Center => -pen / 2.0,
            HPos::Right => -pen,
        };
        let glyph_style = turn(style(size, colour, HPos::Left, v));
        let mut buf = [0; 4];
        for (c, pen, bearing) in placed {
            // plotters rasterises a glyph with its ink starting at the floored bearing; the pen
            // itself snaps to whole pixels.
            let along = (start + pen).round() as i32 + bearing.floor() as i32;
            let at = if up {
                (pos.0, pos.1 - along)
            } else {
                (pos.0 + along, pos.1)
            };
            self.root
                .draw_text(c.encode_utf8(&mut buf), &glyph_style, at)
                .map_err(draw_err)?;
        }
        Ok(())
    }
}

pub(super) fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    per_glyph: bool,
) -> Result<(), ChartError> {
    let canvas = Canvas {
        root,
        glyphs: if per_glyph { Glyphs::bundled() } else { None },
    };
    root.fill(&WHITE).map_err(draw_err)?;
    let (w, h) = (chart.width, chart.height);
    let sz = Sizes::new(w, h);
    let inner_w = (w as i32 - 2 * sz.pad).max(1) as u32;

    // Title: shrink to 70% before shortening it.
    let title = clean(&chart.title);
    let mut title_size = sz.title;
    while title_size > sz.title * 0.7 && text::width(&title, title_size)? > inner_w {
        title_size -= 2.0;
    }
    let title = text::fit(&title, title_size, inner_w)?;
    canvas.text(
        &title,
        title_size,
        &TEXT,
        HPos::Center,
        VPos::Top,
        false,
        (w as i32 / 2, sz.pad),
    )?;
    let mut top = sz.pad + (title_size * 1.5).round() as i32;

    let (legend, is_line): (Vec<String>, bool) = match &chart.kind {
        ChartKind::Bars { series, .. } => (series.iter().map(|s| clean(&s.name)).collect(), false),
        ChartKind::Lines { series } => (series.iter().map(|s| clean(&s.name)).collect(), true),
    };
    if legend.len() > 1 {
        top = draw_legend(&canvas, &sz, &legend, is_line, top)?;
    }
    top += sz.pad / 2;

    let (_, body) = root.split_vertically(top);
    let x_desc = clean(&chart.x_label);
    let y_desc = clean(&chart.y_label);
    match &chart.kind {
        ChartKind::Bars {
            categories,
            series,
            stacked,
        } => draw_bars(
            &canvas, &body, &sz, &x_desc, &y_desc, categories, series, *stacked,
        ),
        ChartKind::Lines { series } => draw_lines(&canvas, &body, &sz, &x_desc, &y_desc, series),
    }
}

/// Draws the legend in centred rows under the title and returns the y below it. Outside the
/// plot, it never hides data.
fn draw_legend<DB: DrawingBackend>(
    canvas: &Canvas<'_, DB>,
    sz: &Sizes,
    names: &[String],
    is_line: bool,
    top: i32,
) -> Result<i32, ChartError> {
    let root = canvas.root;
    let (w, _) = root.dim_in_pixel();
    let swatch_w = if is_line {
        (sz.legend * 1.6) as i32
    } else {
        (sz.legend * 0.9) as i32
    };
    let gap = (sz.legend * 0.4) as i32;
    let item_gap = (sz.legend * 1.4) as i32;
    let max_name = (w / 3).max(40);
    let mut items = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let name = text::fit(name, sz.legend, max_name)?;
        let item_w = swatch_w + gap + text::width(&name, sz.legend)? as i32;
        items.push((i, name, item_w));
    }
    // Greedy rows within the inner width.
    let limit = w as i32 - 2 * sz.pad;
    let mut rows: Vec<Vec<(usize, String, i32)>> = vec![Vec::new()];
    let mut row_w = 0;
    for item in items {
        let add = if row_w == 0 {
            item.2
        } else {
            item_gap + item.2
        };
        if row_w > 0 && row_w + add > limit {
            rows.push(Vec::new());
            row_w = item.2;
        } else {
            row_w += add;
        }
        if let Some(row) = rows.last_mut() {
            row.push(item);
        }
    }
    let row_h = (sz.legend * 1.5).round() as i32;
    let mut y = top + row_h / 2;
    for row in rows {
        let total: i32 = row.iter().map(|it| it.2).sum::<i32>() + item_gap * (row.len() as i32 - 1);
        let mut x = (w as i32 - total) / 2;
        for (i, name, item_w) in row {
            let c = colour(i);
            if is_line {
                root.draw(&PathElement::new(
                    vec![(x, y), (x + swatch_w, y)],
                    c.stroke_width(3),
                ))
                .map_err(draw_err)?;
            } else {
                let half = swatch_w / 2;
                root.draw(&Rectangle::new(
                    [(x, y - half), (x + swatch_w, y + half)],
                    c.filled(),
                ))
                .map_err(draw_err)?;
            }
            canvas.text(
                &name,
                sz.legend,
                &TEXT,
                HPos::Left,
                VPos::Center,
                false,
                (x + swatch_w + gap, y),
            )?;
            x += item_w + item_gap;
        }
        y += row_h;
    }
    Ok(top + (y - top) - row_h / 2)
}

/// Upper end of a count axis: 10% headroom over the largest value, and at least 1.
fn y_top(max: f64) -> f64 {
    if max.is_finite() {
        (max * 1.1).max(1.0)
    } else {
        1.0
    }
}

/// Width of the y label area: the widest tick label plus the rotated axis description.
fn y_area(sz: &Sizes, y_max: f64) -> Result<u32, ChartError> {
    // A fractional tick can be a little wider than the rounded maximum.
    let widest = text::width(&format!("{}.00", text::number(y_max.ceil())), sz.tick)?;
    Ok(widest + (sz.desc * 1.6) as u32 + 12)
}

fn draw_note<DB: DrawingBackend>(
    canvas: &Canvas<'_, DB>,
    sz: &Sizes,
    at: (i32, i32),
) -> Result<(), ChartError> {
    canvas.text(
        "no data",
        even(sz.desc * 1.2),
        &NOTE,
        HPos::Center,
        VPos::Center,
        false,
        at,
    )
}

/// The axis descriptions, and the tick labels at plotters' own key points (so they sit on its
/// tick marks and grid lines). `x_ticks` is false for category axes, which label themselves.
fn draw_axis_text<DB: DrawingBackend, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    canvas: &Canvas<'_, DB>,
    chart: &ChartContext<'_, DB, Cartesian2d<X, Y>>,
    body: &DrawingArea<DB, Shift>,
    sz: &Sizes,
    (x_desc, y_desc): (&str, &str),
    x_ticks: bool,
) -> Result<(), ChartError> {
    let spec = chart.as_coord_spec();
    let (x_lo, y_lo) = (spec.x_spec().range().start, spec.y_spec().range().start);
    for v in spec.y_spec().key_points(BoldPoints(Y_TICKS)) {
        let (x, y) = chart.backend_coord(&(x_lo, v));
        let label = text::number(v);
        canvas.text(
            &label,
            sz.tick,
            &TEXT,
            HPos::Right,
            VPos::Center,
            false,
            (x - 2 * TICK, y),
        )?;
    }
    if x_ticks {
        for v in spec.x_spec().key_points(BoldPoints(X_TICKS)) {
            let (x, y) = chart.backend_coord(&(v, y_lo));
            let label = text::number(v);
            canvas.text(
                &label,
                sz.tick,
                &TEXT,
                HPos::Center,
                VPos::Top,
                false,
                (x, y + 2 * TICK),
            )?;
        }
    }
    let (xs, ys) = body.get_pixel_range();
    let plot = chart.plotting_area().get_pixel_range();
    let mid_x = (plot.0.start + plot.0.end) / 2;
    let mid_y = (plot.1.start + plot.1.end) / 2;
    canvas.text(
        x_desc,
        sz.desc,
        &TEXT,
        HPos::Center,
        VPos::Bottom,
        false,
        (mid_x, ys.end - 2),
    )?;
    canvas.text(
        y_desc,
        sz.desc,
        &TEXT,
        HPos::Center,
        VPos::Top,
        true,
        (xs.start + sz.pad / 2, mid_y),
    )
}

/// How category labels under the bars are laid out.
struct CategoryLabels {
    labels: Vec<String>,
    size: f64,
    rotated: bool,
    /// Height the labels take below the axis.
    height: u32,
}

/// Horizontal labels when they all fit their slot (at the tick size, or a bit smaller), otherwise
/// labels turned to read upwards, shortened to 30% of the chart height.
fn layout_categories(
    sz: &Sizes,
    categories: &[String],
    slot: u32,
    body_h: u32,
) -> Result<CategoryLabels, ChartError> {
    let cleaned: Vec<String> = categories.iter().map(|c| clean(c)).collect();
    for size in [sz.tick, even(sz.tick * 0.85)] {
        let mut widest = 0;
        for c in &cleaned {
            widest = widest.max(text::width(c, size)?);
        }
        if widest + 6 <= slot {
            return Ok(CategoryLabels {
                labels: cleaned,
                size,
                rotated: false,
                height: (size * 1.4) as u32,
            });
        }
    }
    let size = sz.tick;
    let budget = (body_h * 3 / 10).max(40);
    let mut labels = Vec::with_capacity(cleaned.len());
    let mut longest = 0;
    for c in &cleaned {
        let l = text::fit(c, size, budget)?;
        longest = longest.max(text::width(&l, size)?);
        labels.push(l);
    }
    Ok(CategoryLabels {
        labels,
        size,
        rotated: true,
        height: longest + 4,
    })
}

fn value(s: &Series, i: usize) -> f64 {
    match s.values.get(i) {
        Some(&v) if v.is_finite() && v > 0.0 => v,
        _ => 0.0,
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_bars<DB: DrawingBackend>(
    canvas: &Canvas<'_, DB>,
    body: &DrawingArea<DB, Shift>,
    sz: &Sizes,
    x_desc: &str,
    y_desc: &str,
    categories: &[String],
    series: &[Series],
    stacked: bool,
) -> Result<(), ChartError> {
    let n = categories.len();
    let empty = n == 0 || series.is_empty();
    let max = (0..n)
        .map(|i| {
            let vals = series.iter().map(|s| value(s, i));
            if stacked {
                vals.sum::<f64>()
            } else {
                vals.fold(0.0, f64::max)
            }
        })
        .fold(0.0, f64::max);
    let y_max = y_top(max);

    let (body_w, body_h) = body.dim_in_pixel();
    let y_area = y_area(sz, y_max)?;
    let plot_w = body_w.saturating_sub(y_area + sz.pad as u32).max(1);
    let slot = if n == 0 { plot_w } else { plot_w / n as u32 };
    let cats = layout_categories(sz, categories, slot, body_h)?;
    let desc_h = (sz.desc * 1.5) as u32;
    let x_area = 2 * TICK as u32 + cats.height + desc_h;

    let x_desc = text::fit(x_desc, sz.desc, plot_w)?;
    let y_desc = text::fit(y_desc, sz.desc, body_h.saturating_sub(x_area))?;

    let x_range = if n == 0 { 0.0..1.0 } else { 0.0..n as f64 };
    let mut chart = ChartBuilder::on(body)
        .margin_right(sz.pad)
        .margin_left(sz.pad / 2)
        .margin_top(4)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(x_range, 0.0..y_max)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .set_tick_mark_size(LabelAreaPosition::Left, TICK)
        .x_labels(0)
        .y_labels(Y_TICKS)
        .label_style(text::font(sz.tick).color(&INVISIBLE))
        .draw()
        .map_err(draw_err)?;
    draw_axis_text(canvas, &chart, body, sz, (&x_desc, &y_desc), false)?;

    if empty {
        let (xr, yr) = (chart.x_range(), chart.y_range());
        let at = chart.backend_coord(&((xr.start + xr.end) / 2.0, (yr.start + yr.end) / 2.0));
        return draw_note(canvas, sz, at);
    }

    let k = series.len();
    for i in 0..n {
        let x0 = i as f64;
        let mut base = 0.0;
        for (j, s) in series.iter().enumerate() {
            let v = value(s, i);
            if v <= 0.0 {
                continue;
            }
            let (left, right, bottom) = if stacked {
                (x0 + 0.15, x0 + 0.85, base)
            } else {
                let bw = 0.8 / k as f64;
                (
                    x0 + 0.1 + bw * j as f64,
                    x0 + 0.1 + bw * (j + 1) as f64,
                    0.0,
                )
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(left, bottom), (right, bottom + v)],
                    colour(j).filled(),
                )))
                .map_err(draw_err)?;
            if stacked {
                base += v;
            }
        }
    }

    // Totals above the bars when they are not ambiguous (one value per bar or a stack's sum).
    if stacked || k == 1 {
        let size = even(sz.tick * 0.9);
        for i in 0..n {
            let total: f64 = series.iter().map(|s| value(s, i)).sum();
            if total <= 0.0 {
                continue;
            }
            let label = text::number(total);
            if text::width(&label, size)? + 2 > slot {
                continue;
            }
            let (x, y) = chart.backend_coord(&(i as f64 + 0.5, total));
            canvas.text(
                &label,
                size,
                &TEXT,
                HPos::Center,
                VPos::Bottom,
                false,
                (x, y - 3),
            )?;
        }
    }

    // Category labels, drawn here rather than by the mesh so they can be turned and shortened.
    let (h, v) = if cats.rotated {
        (HPos::Right, VPos::Center)
    } else {
        (HPos::Center, VPos::Top)
    };
    for (i, label) in cats.labels.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        canvas
            .root
            .draw(&PathElement::new(vec![(x, y), (x, y + TICK)], AXIS))
            .map_err(draw_err)?;
        canvas.text(
            label,
            cats.size,
            &TEXT,
            h,
            v,
            cats.rotated,
            (x, y + 2 * TICK),
        )?;
    }
    Ok(())
}

fn draw_lines<DB: DrawingBackend>(
    canvas: &Canvas<'_, DB>,
    body: &DrawingArea<DB, Shift>,
    sz: &Sizes,
    x_desc: &str,
    y_desc: &str,
    series: &[LineSeries],
) -> Result<(), ChartError> {
    let lines: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            let mut pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            pts
        })
        .collect();
    let all = || lines.iter().flatten();
    let empty = all().next().is_none();
    let x_min = all().map(|p| p.0).fold(0.0, f64::min);
    let x_max = all().map(|p| p.0).fold(x_min, f64::max);
    let x_max = if x_max - x_min < 1.0 {
        x_min + 1.0
    } else {
        x_max
    };
    let y_min = all().map(|p| p.1).fold(0.0, f64::min);
    let y_max = y_top(all().map(|p| p.1).fold(0.0, f64::max));

    let (body_w, body_h) = body.dim_in_pixel();
    let y_area = y_area(sz, y_max)?;
    let plot_w = body_w.saturating_sub(y_area + sz.pad as u32).max(1);
    let x_area = 2 * TICK as u32 + (sz.tick * 1.4 + sz.desc * 1.5) as u32;
    let x_desc = text::fit(x_desc, sz.desc, plot_w)?;
    let y_desc = text::fit(y_desc, sz.desc, body_h.saturating_sub(x_area))?;

    let mut chart = ChartBuilder::on(body)
        .margin_right(sz.pad)
        .margin_left(sz.pad / 2)
        .margin_top(4)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(x_min..x_max, y_min..y_max)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .set_tick_mark_size(LabelAreaPosition::Left, TICK)
        .set_tick_mark_size(LabelAreaPosition::Bottom, TICK)
        .x_labels(X_TICKS)
        .y_labels(Y_TICKS)
        .label_style(text::font(sz.tick).color(&INVISIBLE))
        .draw()
        .map_err(draw_err)?;
    draw_axis_text(canvas, &chart, body, sz, (&x_desc, &y_desc), true)?;

    if empty {
        let at = chart.backend_coord(&((x_min + x_max) / 2.0, (y_min + y_max) / 2.0));
        return draw_note(canvas, sz, at);
    }

    for (j, pts) in lines.iter().enumerate() {
        let c = colour(j);
        chart
            .draw_series(std::iter::once(PathElement::new(
                pts.clone(),
                c.stroke_width(2),
            )))
            .map_err(draw_err)?;
        // Markers show single points and sparse series; dense lines would drown in them.
        if pts.len() <= 40 {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(draw_err)?;
        }
    }
    Ok(())
}
