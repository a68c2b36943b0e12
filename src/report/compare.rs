//! Renderers for `finscope compare`: the terminal summary (verdicts first) and the JSON
//! document (documented in docs/json-schema.md).

use std::io::{self, Write};

use serde_json::{json, Value};

use crate::analysis::{Compared, Comparison, Figure};

fn num(x: Option<f64>) -> String {
    match x {
        None => "-".into(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
    }
}

fn change(f: &Figure) -> String {
    match f.relative_change() {
        Some(c) => format!("{:+.0}%", c * 100.0),
        None => "-".into(),
    }
}

fn name(c: &Compared) -> String {
    match &c.before_name {
        Some(b) => format!("{} (before: {b})", c.name),
        None => c.name.clone(),
    }
}

/// One line per changed figure that decides, for the verdict lines.
fn headline(c: &Compared) -> String {
    let parts: Vec<String> = c
        .figures
        .iter()
        .filter(|f| f.watched && (f.before.is_some() || f.after.is_some()))
        .map(|f| {
            format!(
                "{} {} -> {} ({})",
                f.name,
                num(f.before),
                num(f.after),
                change(f)
            )
        })
        .collect();
    parts.join("; ")
}

/// The terminal summary: overall verdict, caveats, per endpoint and host verdicts, then the
/// figures.
pub fn write_compare_text(out: &mut dyn Write, c: &Comparison) -> io::Result<()> {
    writeln!(
        out,
        "finscope compare: {} (a change counts from {:.0}%)",
        c.overall.as_str().to_uppercase(),
        c.threshold * 100.0
    )?;
    for (label, s) in [("before", &c.before), ("after", &c.after)] {
        writeln!(
            out,
            "  {label}: {} — {:.1} s, {} connections ({:.1}/s), {} HTTP requests ({:.1}/s)",
            s.captures.join(", "),
            s.duration_s,
            s.connections,
            s.connections_per_s,
            s.requests,
            s.requests_per_s
        )?;
    }
    for x in &c.caveats {
        writeln!(out, "  caution: {x}")?;
    }
    for (title, items) in [("Endpoints", &c.endpoints), ("Hosts", &c.hosts)] {
        writeln!(out)?;
        writeln!(out, "{title}")?;
        for e in items.iter() {
            writeln!(
                out,
                "  {:<10} {}  {}",
                e.verdict.as_str(),
                name(e),
                headline(e)
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "Figures (before -> after, relative change)")?;
    for e in c.endpoints.iter().chain(&c.hosts) {
        writeln!(out, "  {}", name(e))?;
        for f in &e.figures {
            if f.before.is_none() && f.after.is_none() {
                continue;
            }
            writeln!(
                out,
                "    {:<26} {:>10} -> {:<10} {:>7}{}",
                f.name,
                num(f.before),
                num(f.after),
                change(f),
                if f.watched { "  (decides)" } else { "" }
            )?;
        }
    }
    Ok(())
}

fn figure_json(f: &Figure) -> Value {
    json!({
        "name": f.name,
        "before": f.before,
        "after": f.after,
        "relative_change": f.relative_change(),
        "better": match f.better {
            crate::analysis::Better::Lower => "lower",
            crate::analysis::Better::Higher => "higher",
            crate::analysis::Better::Neither => "neither",
        },
        "decides_verdict": f.watched,
    })
}

fn compared_json(c: &Compared) -> Value {
    json!({
        "name": c.name,
        "before_name": c.before_name,
        "verdict": c.verdict.as_str(),
        "figures": c.figures.iter().map(figure_json).collect::<Vec<_>>(),
    })
}

/// The comparison as a JSON value.
pub fn compare_json(c: &Comparison) -> Value {
    let side = |s: &crate::analysis::CompareSide| {
        json!({
            "captures": s.captures,
            "duration_s": s.duration_s,
            "connections": s.connections,
            "requests": s.requests,
            "connections_per_s": s.connections_per_s,
            "requests_per_s": s.requests_per_s,
        })
    };
    json!({
        "schema_version": super::SCHEMA_VERSION,
        "overall": c.overall.as_str(),
        "threshold": c.threshold,
        "caveats": c.caveats,
        "before": side(&c.before),
        "after": side(&c.after),
        "endpoints": c.endpoints.iter().map(compared_json).collect::<Vec<_>>(),
        "hosts": c.hosts.iter().map(compared_json).collect::<Vec<_>>(),
        "regressions": c.regressions().iter().map(|(n, f)| json!({"name": n, "figure": f.name, "before": f.before, "after": f.after})).collect::<Vec<_>>(),
    })
}

/// Writes the comparison as pretty JSON.
pub fn write_compare_json(out: &mut dyn Write, c: &Comparison) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &compare_json(c))?;
    out.write_all(b"\n")
}

/// `compare.md`: the verdicts as a code block (they are aligned text) and the charts.
pub fn write_compare_markdown(
    out: &mut dyn Write,
    c: &Comparison,
    charts: &[super::ChartRef<'_>],
) -> io::Result<()> {
    writeln!(out, "# finscope compare: {}", c.overall.as_str())?;
    writeln!(out)?;
    let mut text = Vec::new();
    write_compare_text(&mut text, c)?;
    let text = super::escape::strip_controls(&String::from_utf8_lossy(&text)).replace("```", "'''");
    writeln!(out, "```text\n{}```", text)?;
    for ch in charts {
        writeln!(out)?;
        writeln!(
            out,
            "![{}](charts/{}.png) ([SVG](charts/{}.svg))",
            super::escape::escape_md(ch.title),
            ch.file_stem,
            ch.file_stem
        )?;
    }
    Ok(())
}

/// `compare.html`: one self-contained page with the verdicts and the inline charts.
pub fn write_compare_html(
    out: &mut dyn Write,
    c: &Comparison,
    charts: &[super::ChartRef<'_>],
) -> io::Result<()> {
    use super::escape::escape_html;
    let mut text = Vec::new();
    write_compare_text(&mut text, c)?;
    let text = String::from_utf8_lossy(&text);
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"
    )?;
    writeln!(
        out,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
    )?;
    writeln!(
        out,
        "<title>finscope compare: {}</title>",
        c.overall.as_str()
    )?;
    writeln!(
        out,
        "<style>{}\npre {{ font-size: 13px; overflow-x: auto; }}</style>",
        super::html::STYLE
    )?;
    writeln!(out, "</head>\n<body>\n<header>")?;
    writeln!(out, "<h1>finscope compare: {}</h1>", c.overall.as_str())?;
    writeln!(
        out,
        "<p class=\"captures\">before: {}<br>after: {}</p>",
        escape_html(&c.before.captures.join(", ")),
        escape_html(&c.after.captures.join(", "))
    )?;
    writeln!(out, "</header>\n<main>")?;
    writeln!(out, "<h2>Verdicts</h2>\n<pre>{}</pre>", escape_html(&text))?;
    let svgs: Vec<_> = charts
        .iter()
        .filter_map(|ch| ch.inline_svg().map(|s| (ch, s)))
        .collect();
    if !svgs.is_empty() {
        writeln!(out, "<h2>Charts</h2>")?;
        for (ch, svg) in svgs {
            writeln!(
                out,
                "<figure><figcaption>{}</figcaption>{svg}</figure>",
                escape_html(ch.title)
            )?;
        }
    }
    writeln!(out, "</main>\n</body>\n</html>")
}
