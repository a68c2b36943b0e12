//! Text helpers for charts: cleaning strings that may come from packets, measuring them with the
//! bundled font, and shortening them with an ellipsis to fit a width.

use plotters::style::{FontDesc, IntoFont};

use super::{ChartError, FONT_FAMILY};

const ELLIPSIS: char = '…';

/// Replaces characters that XML 1.0 forbids even escaped (control characters, U+FFFE, U+FFFF)
/// and that the font cannot draw with U+FFFD, so an SVG stays well-formed whatever the packets
/// held. Markup characters are left alone: the SVG backend escapes them.
pub(super) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// The chart font at `size` pixels.
pub(super) fn font(size: f64) -> FontDesc<'static> {
    (FONT_FAMILY, size).into_font()
}

/// Width of `text` in pixels at `size`.
pub(super) fn width(text: &str, size: f64) -> Result<u32, ChartError> {
    font(size)
        .box_size(text)
        .map(|(w, _)| w)
        .map_err(|e| ChartError::Draw(e.to_string()))
}

/// `text` unchanged if it fits in `max_px` at `size`, otherwise shortened with an ellipsis a
/// third of the way in. Both ends carry meaning, the end more: endpoints that share an address
/// prefix differ in their last group and port, and a title ends with the capture's file name.
pub(super) fn fit(text: &str, size: f64, max_px: u32) -> Result<String, ChartError> {
    if width(text, size)? <= max_px {
        return Ok(text.to_string());
    }
    let chars: Vec<char> = text.chars().collect();
    let shortened = |keep: usize| -> String {
        let head = keep.div_ceil(3);
        let tail = keep - head;
        let mut s: String = chars[..head].iter().collect();
        s.push(ELLIPSIS);
        s.extend(&chars[chars.len() - tail..]);
        s
    };
    // Largest number of kept characters that fits; width grows with it, so bisect.
    let (mut lo, mut hi) = (0usize, chars.len().saturating_sub(1));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if width(&shortened(mid), size)? <= max_px {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(shortened(lo))
}

/// A number as a tick or value label: integers without decimals, others with up to two.
pub(super) fn number(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let rounded = v.round();
    if (v - rounded).abs() < 1e-9 {
        // `as` saturates, and counts on a chart are far below i64::MAX.
        return format!("{}", rounded as i64);
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}
