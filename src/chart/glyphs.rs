//! Horizontal glyph metrics of the bundled font, read from its `hhea`, `hmtx` and `cmap` tables.
//!
//! They exist to place glyphs one by one in PNGs: plotters 0.3.7's ab_glyph text drawing puts
//! each glyph's ink at the pen position and drops its left side bearing, so narrow glyphs ("i",
//! "t", ".") sit too far left and words look torn ("en dpoin t"). Drawing each character at
//! `pen + bearing` with these metrics gives even spacing. SVG text is laid out by the viewer
//! and does not need this.

use std::sync::OnceLock;

use super::FONT;

/// Advance and left side bearing of a character, in font units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Metrics {
    pub advance: f64,
    pub bearing: f64,
}

/// What the renderer needs from the font: metrics per character and the units-to-pixels scale.
pub(super) struct Glyphs {
    /// ab_glyph scales a font so that ascent minus descent equals the font size in pixels.
    height_units: f64,
    advances: Vec<(u16, i16)>,
    /// The format 4 `cmap` subtable's segments, sorted by end code.
    segments: Vec<Segment>,
    cmap: &'static [u8],
}

struct Segment {
    end: u16,
    start: u16,
    delta: u16,
    range_offset: u16,
    /// Byte position of this segment's idRangeOffset entry inside the cmap subtable.
    range_offset_at: usize,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

fn table(font: &'static [u8], tag: &[u8; 4]) -> Option<&'static [u8]> {
    let count = usize::from(u16_at(font, 4)?);
    (0..count).find_map(|i| {
        let rec = 12 + 16 * i;
        if font.get(rec..rec + 4)? != tag {
            return None;
        }
        let off = u32_at(font, rec + 8)? as usize;
        let len = u32_at(font, rec + 12)? as usize;
        font.get(off..off.checked_add(len)?)
    })
}

impl Glyphs {
    /// The bundled font's metrics, parsed once; `None` if the font lacks what is needed, in which
    /// case callers draw text the plain plotters way.
    pub(super) fn bundled() -> Option<&'static Glyphs> {
        static GLYPHS: OnceLock<Option<Glyphs>> = OnceLock::new();
        GLYPHS.get_or_init(|| Glyphs::parse(FONT)).as_ref()
    }

    fn parse(font: &'static [u8]) -> Option<Glyphs> {
        let hhea = table(font, b"hhea")?;
        let ascent = f64::from(u16_at(hhea, 4)? as i16);
        let descent = f64::from(u16_at(hhea, 6)? as i16);
        let long_metrics = usize::from(u16_at(hhea, 34)?);
        let hmtx = table(font, b"hmtx")?;
        let advances = (0..long_metrics)
            .map(|i| Some((u16_at(hmtx, 4 * i)?, u16_at(hmtx, 4 * i + 2)? as i16)))
            .collect::<Option<Vec<_>>>()?;

        // The Windows Unicode BMP subtable (platform 3, encoding 1), format 4.
        let cmap_table = table(font, b"cmap")?;
        let subtables = usize::from(u16_at(cmap_table, 2)?);
        let cmap = (0..subtables).find_map(|i| {
            let rec = 4 + 8 * i;
            let platform = u16_at(cmap_table, rec)?;
            let encoding = u16_at(cmap_table, rec + 2)?;
            let off = u32_at(cmap_table, rec + 4)? as usize;
            let sub = cmap_table.get(off..)?;
            (platform == 3 && encoding == 1 && u16_at(sub, 0)? == 4).then_some(sub)
        })?;
        let seg_count = usize::from(u16_at(cmap, 6)? / 2);
        let ends_at = 14;
        let starts_at = ends_at + 2 * seg_count + 2;
        let deltas_at = starts_at + 2 * seg_count;
        let range_offsets_at = deltas_at + 2 * seg_count;
        let segments = (0..seg_count)
            .map(|i| {
                Some(Segment {
                    end: u16_at(cmap, ends_at + 2 * i)?,
                    start: u16_at(cmap, starts_at + 2 * i)?,
                    delta: u16_at(cmap, deltas_at + 2 * i)?,
                    range_offset: u16_at(cmap, range_offsets_at + 2 * i)?,
                    range_offset_at: range_offsets_at + 2 * i,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let height_units = ascent - descent;
        (height_units > 0.0 && !advances.is_empty()).then_some(Glyphs {
            height_units,
            advances,
            segments,
            cmap,
        })
    }

    fn glyph_id(&self, c: char) -> Option<u16> {
        let code = u16::try_from(u32::from(c)).ok()?;
        // Segments are sorted by end code.
        let idx = self.segments.partition_point(|s| s.end < code);
        let seg = self.segments.get(idx)?;
        if code < seg.start {
            return None;
        }
        let id = if seg.range_offset == 0 {
            code.wrapping_add(seg.delta)
        } else {
            let at = seg.range_offset_at
                + usize::from(seg.range_offset)
                + 2 * usize::from(code - seg.start);
            match u16_at(self.cmap, at)? {
                0 => 0,
                g => g.wrapping_add(seg.delta),
            }
        };
        (id != 0).then_some(id)
    }

    /// Metrics of `c`, or `None` when the font has no glyph for it.
    pub(super) fn metrics(&self, c: char) -> Option<Metrics> {
        let id = usize::from(self.glyph_id(c)?);
        let (advance, bearing) = match self.advances.get(id) {
            Some(&m) => m,
            // Glyphs past the long metrics share the last advance; their bearings are not needed
            // closely enough to read the short table.
            None => (self.advances.last()?.0, 0),
        };
        Some(Metrics {
            advance: f64::from(advance),
            bearing: f64::from(bearing),
        })
    }

    /// Pixels per font unit at a plotters font size.
    pub(super) fn scale(&self, size: f64) -> f64 {
        size / self.height_units
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_font_has_metrics_for_ascii_and_punctuation() {
        let g = Glyphs::bundled().expect("bundled font parses");
        for c in (' '..='~').chain(['—', '…', '\u{FFFD}']) {
            assert!(g.metrics(c).is_some(), "no glyph for {c:?}");
        }
        // DejaVu Sans digits are tabular; "i" has a wide left bearing, which plotters drops.
        let zero = g.metrics('0').unwrap();
        assert_eq!(zero.advance, g.metrics('8').unwrap().advance);
        assert!(g.metrics('i').unwrap().bearing > 100.0);
        assert_eq!(g.metrics('\u{10FFFF}'), None);
    }

    #[test]
    fn widths_agree_with_plotters() {
        let g = Glyphs::bundled().unwrap();
        super::super::ensure_font().unwrap();
        // No kerning pairs in this text, so both agree within plotters rounding down to a pixel.
        let s = "0123456789 sockets (s)";
        let size = 13.0;
        let ours: f64 = s
            .chars()
            .map(|c| g.metrics(c).unwrap().advance)
            .sum::<f64>()
            * g.scale(size);
        let theirs = f64::from(super::super::text::width(s, size).unwrap());
        assert!(
            (ours - theirs).abs() <= 1.5,
            "ours {ours}, plotters {theirs}"
        );
    }
}
