//! Charts as SVG text or PNG bytes: plotters lives here and nowhere else.
//!
//! The API takes plain data ([`Chart`]: a title, axis labels, categories and series) and returns
//! bytes, so this module knows nothing of finscope's analysis types; the report layer builds the
//! specs. It uses no other finscope module.
//!
//! Text is drawn with a bundled DejaVu Sans (see `assets/DejaVuSans-LICENSE.txt`), registered with
//! plotters once per process, so nothing from the system (fontconfig, font files) is needed at
//! build time or at run time. Output is deterministic: the same [`Chart`] gives the same bytes.
//!
//! Strings in a chart may come from packets (endpoints, Host headers). Control characters are
//! replaced before drawing, and plotters' SVG backend escapes `<`, `>`, `&`, `"` and `'` in text
//! and attributes, which the tests check.

mod draw;
mod glyphs;
mod specs;
mod text;

pub use specs::{compare_charts, report_charts, TOP};

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use plotters::prelude::{BitMapBackend, IntoDrawingArea, SVGBackend};
use plotters::style::{register_font, FontStyle};

/// A chart to render: what it shows and how big it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Names what is shown and the capture, e.g.
    /// `"Active closes per endpoint — nginx-default-upstream.pcap"`.
    pub title: String,
    /// Horizontal axis description, with units.
    pub x_label: String,
    /// Vertical axis description, with units.
    pub y_label: String,
    /// The data and how to draw it.
    pub kind: ChartKind,
    /// Width in pixels (PNG) or user units (SVG), e.g. 900.
    pub width: u32,
    /// Height in pixels (PNG) or user units (SVG), e.g. 500.
    pub height: u32,
}

/// The shape of a chart and its data.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartKind {
    /// Categories on x (e.g. endpoints, histogram buckets), one or more series stacked or side by
    /// side. Each series has one value per category; missing values count as 0, extra values are
    /// ignored, and negative or non-finite values are drawn as 0.
    Bars {
        /// Category names, in drawing order.
        categories: Vec<String>,
        /// One or more series; more than one gets a legend.
        series: Vec<Series>,
        /// Stack the series on each other (true) or draw them side by side (false).
        stacked: bool,
    },
    /// Time series: x in seconds from capture start, y counts; one line per series. Points are
    /// drawn in x order; non-finite points are skipped.
    Lines {
        /// One line each; more than one gets a legend.
        series: Vec<LineSeries>,
    },
}

/// A named series of a bar chart: one value per category.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// One value per category.
    pub values: Vec<f64>,
}

/// A named line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct LineSeries {
    /// Legend name.
    pub name: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The requested size is zero or too large.
    #[error("chart size {width}x{height} is not drawable: use 1..={max} pixels per side", max = MAX_SIDE)]
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// The bundled font could not be loaded (a broken build, not bad input).
    #[error("the bundled chart font could not be loaded: rebuild finscope from a clean checkout")]
    Font,
    /// plotters failed while drawing.
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    /// The PNG encoder failed.
    #[error("encoding the chart as PNG failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// The largest width or height accepted, in pixels; bounds the PNG buffer at about 200 MB.
pub const MAX_SIDE: u32 = 8192;

/// The font family every text element uses; the bundled font is registered under it.
const FONT_FAMILY: &str = "sans-serif";

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the bundled font with plotters once per process; later calls return the first
/// outcome. Both backends need it: the SVG backend measures text for layout.
fn ensure_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok =
        *REGISTERED.get_or_init(|| register_font(FONT_FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ChartError::Font)
    }
}

fn check_size(chart: &Chart) -> Result<(), ChartError> {
    let ok = |side: u32| (1..=MAX_SIDE).contains(&side);
    if ok(chart.width) && ok(chart.height) {
        Ok(())
    } else {
        Err(ChartError::InvalidSize {
            width: chart.width,
            height: chart.height,
        })
    }
}

/// Renders the chart as a standalone SVG document.
pub fn render_svg(chart: &Chart) -> Result<String, ChartError> {
    check_size(chart)?;
    ensure_font()?;
    let mut out = String::new();
    {
        let root =
            SVGBackend::with_string(&mut out, (chart.width, chart.height)).into_drawing_area();
        draw::draw_chart(&root, chart, false)?;
        root.present().map_err(draw::draw_err)?;
    }
    Ok(out)
}

/// Renders the chart as an 8-bit RGB PNG of `width` x `height` pixels.
pub fn render_png(chart: &Chart) -> Result<Vec<u8>, ChartError> {
    check_size(chart)?;
    ensure_font()?;
    let (w, h) = (chart.width, chart.height);
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw::draw_chart(&root, chart, true)?;
        root.present().map_err(draw::draw_err)?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(out)
}

/// Keeps the `n` largest categories (by the sum over series) in their order and sums the rest into
/// one category named "other", appended last.
///
/// With `n` or fewer categories, nothing changes. Ties keep the earlier category. Every returned
/// series has exactly one value per returned category (missing values count as 0).
pub fn top_n_with_other(
    categories: Vec<String>,
    series: Vec<Series>,
    n: usize,
) -> (Vec<String>, Vec<Series>) {
    if categories.len() <= n {
        return (categories, series);
    }
    let value = |s: &Series, i: usize| s.values.get(i).copied().unwrap_or(0.0);
    let totals: Vec<f64> = (0..categories.len())
        .map(|i| series.iter().map(|s| value(s, i)).sum())
        .collect();
    let mut order: Vec<usize> = (0..categories.len()).collect();
    // Stable sort: equal totals keep their original order.
    order.sort_by(|&a, &b| totals[b].total_cmp(&totals[a]));
    let mut keep = vec![false; categories.len()];
    for &i in &order[..n] {
        keep[i] = true;
    }

    let mut out_categories = Vec::with_capacity(n + 1);
    for (i, category) in categories.into_iter().enumerate() {
        if keep[i] {
            out_categories.push(category);
        }
    }
    out_categories.push("other".to_string());

    let out_series = series
        .into_iter()
        .map(|s| {
            let mut values = Vec::with_capacity(n + 1);
            let mut other = 0.0;
            for (i, &kept) in keep.iter().enumerate() {
                if kept {
                    values.push(value(&s, i));
                } else {
                    other += value(&s, i);
                }
            }
            values.push(other);
            Series {
                name: s.name,
                values,
            }
        })
        .collect();
    (out_categories, out_series)
}
