//! `--out DIR`: the report directory (`report.html`, `report.md`, `report.json`,
//! `charts/*.svg`, `charts/*.png`, or the `compare.*` equivalents).
//!
//! finscope writes only fixed file names inside DIR, so nothing lands outside it, and it
//! refuses a non-empty DIR it did not create unless `--force`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::chart::{self, Chart};
use crate::report::ChartRef;

/// Marks a directory as finscope's, so a later run may overwrite it.
const MARKER: &str = ".finscope-report";

/// Prepares DIR: creates it (and `charts/`), or checks it may be written into.
pub fn prepare(dir: &Path, force: bool) -> anyhow::Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!("{}: exists and is not a directory", dir.display());
        }
        let mut entries =
            fs::read_dir(dir).with_context(|| format!("{}: cannot list it", dir.display()))?;
        let empty = entries.next().is_none();
        if !empty && !dir.join(MARKER).exists() && !force {
            bail!(
                "{}: directory is not empty and was not written by finscope; choose another --out or add --force",
                dir.display()
            );
        }
    }
    fs::create_dir_all(dir.join("charts"))
        .with_context(|| format!("{}: cannot create it", dir.display()))?;
    fs::write(
        dir.join(MARKER),
        "written by finscope; it may overwrite the files here\n",
    )
    .with_context(|| format!("{}: cannot write into it", dir.display()))?;
    Ok(())
}

/// Writes `contents` through `render` into DIR/name.
pub fn write_file(
    dir: &Path,
    name: &str,
    render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    let f =
        fs::File::create(&path).with_context(|| format!("{}: cannot create it", path.display()))?;
    let mut w = BufWriter::new(f);
    render(&mut w)
        .and_then(|_| w.flush())
        .with_context(|| format!("{}: cannot write it", path.display()))?;
    Ok(path)
}

/// A rendered chart: its file stem, title and SVG text.
pub struct Rendered {
    pub stem: &'static str,
    pub title: &'static str,
    pub svg: String,
}

/// Renders every chart to SVG (kept for inlining) and, when `dir` is given, writes
/// `charts/<stem>.svg` and `charts/<stem>.png` there.
pub fn render_charts(
    charts: Vec<(&'static str, &'static str, Chart)>,
    dir: Option<&Path>,
) -> anyhow::Result<Vec<Rendered>> {
    let mut out = Vec::new();
    for (stem, title, c) in charts {
        let svg = chart::render_svg(&c).with_context(|| format!("drawing chart {stem}"))?;
        if let Some(dir) = dir {
            let charts = dir.join("charts");
            fs::write(charts.join(format!("{stem}.svg")), &svg)
                .with_context(|| format!("{}: cannot write {stem}.svg", charts.display()))?;
            let png = chart::render_png(&c).with_context(|| format!("drawing chart {stem}"))?;
            fs::write(charts.join(format!("{stem}.png")), png)
                .with_context(|| format!("{}: cannot write {stem}.png", charts.display()))?;
        }
        out.push(Rendered { stem, title, svg });
    }
    Ok(out)
}

/// Borrowed views for the renderers.
pub fn refs(rendered: &[Rendered]) -> Vec<ChartRef<'_>> {
    rendered
        .iter()
        .map(|r| ChartRef {
            title: r.title,
            file_stem: r.stem,
            svg: Some(r.svg.as_str()),
        })
        .collect()
}
