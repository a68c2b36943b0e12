//! The HTML report: one self-contained page (inline CSS, inline SVG charts, no script, no
//! external URL) that opens offline. Findings first, then the verdicts, the charts and the
//! tables. Every string goes through [`escape_html`]; a Content-Security-Policy forbids
//! scripts and remote loads even so.

use std::io::{self, Write};

use crate::analysis::{EndpointStats, Summary};

use super::escape::{escape_html, html_with_code};
use super::tables::{self, Align, ChartRef, Table, VERDICTS};
use super::text::verdict;

pub(crate) const STYLE: &str = r#"
:root { color-scheme: light; --fg: #1d232a; --muted: #5b6570; --line: #d8dde3; --zebra: #f5f7f9;
  --critical: #b3261e; --warning: #b35c00; --info: #1f5fae; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main, header, nav { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 12px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 0 0 8px; }
h4 { font-size: 13px; margin: 12px 0 4px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
p { margin: 6px 0; }
code { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  background: #eef1f4; border-radius: 3px; padding: 1px 4px; overflow-wrap: anywhere; }
.captures { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: var(--muted); overflow-wrap: anywhere; }
.totals { margin: 2px 0; }
.tally span { display: inline-block; margin-right: 8px; }
nav.toc { margin-top: 16px; }
nav.toc h2 { font-size: 14px; border: 0; margin: 0; padding: 0; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
nav.toc ol { margin: 4px 0 0; padding-left: 20px; columns: 2; max-width: 640px; }
nav.toc a { color: var(--info); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
.finding { border: 1px solid var(--line); border-left: 6px solid var(--muted); border-radius: 4px;
  padding: 12px 16px; margin: 12px 0; background: #fcfcfd; }
.finding ul { margin: 0; padding-left: 20px; }
.finding.critical { border-left-color: var(--critical); }
.finding.warning { border-left-color: var(--warning); }
.finding.info { border-left-color: var(--info); }
.sev { display: inline-block; min-width: 64px; text-align: center; color: #fff; border-radius: 3px;
  padding: 0 6px; margin-right: 6px; font-size: 12px; line-height: 20px; vertical-align: 2px;
  text-transform: uppercase; letter-spacing: .04em; background: var(--muted); }
.sev.critical { background: var(--critical); }
.sev.warning { background: var(--warning); }
.sev.info { background: var(--info); }
.filter { color: var(--muted); margin-top: 10px; }
ul.verdicts { padding-left: 20px; }
ul.verdicts > li { margin-bottom: 8px; }
ul.verdicts ul { color: var(--muted); padding-left: 20px; }
figure { margin: 12px 0 24px; }
figcaption { font-weight: 600; margin-bottom: 6px; }
figure svg { max-width: 100%; height: auto; display: block; border: 1px solid var(--line); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f4; font-weight: 600; font-size: 13px; text-align: left; vertical-align: bottom; }
th.r, td.r { text-align: right; }
td.r { white-space: nowrap; }
td.l { overflow-wrap: break-word; max-width: 420px; }
tbody tr:nth-child(even) { background: var(--zebra); }
.note, .more { color: var(--muted); font-size: 14px; }
footer { max-width: 1180px; margin: 40px auto 24px; padding: 0 24px; color: var(--muted); font-size: 13px; }
"#;

fn table(out: &mut dyn Write, t: &Table) -> io::Result<()> {
    if let Some(note) = &t.note {
        writeln!(out, "<p class=\"note\">{}</p>", escape_html(note))?;
    }
    writeln!(out, "<div class=\"scroll\"><table>")?;
    write!(out, "<thead><tr>")?;
    for (name, align) in &t.columns {
        write!(
            out,
            "<th class=\"{}\">{}</th>",
            class(*align),
            escape_html(name)
        )?;
    }
    writeln!(out, "</tr></thead>")?;
    writeln!(out, "<tbody>")?;
    for row in &t.rows {
        write!(out, "<tr>")?;
        for (cell, (_, align)) in row.iter().zip(&t.columns) {
            write!(
                out,
                "<td class=\"{}\">{}</td>",
                class(*align),
                escape_html(cell)
            )?;
        }
        writeln!(out, "</tr>")?;
    }
    writeln!(out, "</tbody></table></div>")?;
    if let Some(more) = t.more_note() {
        writeln!(out, "<p class=\"more\">{}</p>", escape_html(&more))?;
    }
    Ok(())
}

fn class(a: Align) -> &'static str {
    match a {
        Align::Left => "l",
        Align::Right => "r",
    }
}

/// A verdict's first line with its endpoint in bold.
fn verdict_head(e: &EndpointStats, line: &str) -> String {
    let ep = format!("{}: ", e.endpoint);
    match line.strip_prefix(&ep) {
        Some(rest) => format!(
            "<strong>{}</strong>: {}",
            escape_html(&e.endpoint.to_string()),
            escape_html(rest)
        ),
        None => escape_html(line),
    }
}

/// Writes the HTML report of `s`, with the `charts` that carry a usable SVG inlined.
pub fn write_html(out: &mut dyn Write, s: &Summary, charts: &[ChartRef<'_>]) -> io::Result<()> {
    let names = escape_html(&tables::capture_names(s));
    let all = tables::tables(s);
    let svgs: Vec<(&ChartRef<'_>, &str)> = charts
        .iter()
        .filter_map(|c| c.inline_svg().map(|svg| (c, svg)))
        .collect();

    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\">")?;
    writeln!(out, "<head>")?;
    writeln!(out, "<meta charset=\"utf-8\">")?;
    writeln!(
        out,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
    )?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(out, "<title>finscope report: {names}</title>")?;
    writeln!(out, "<style>{STYLE}</style>")?;
    writeln!(out, "</head>")?;
    writeln!(out, "<body>")?;

    writeln!(out, "<header>")?;
    writeln!(out, "<h1>finscope report</h1>")?;
    writeln!(out, "<p class=\"captures\">{names}</p>")?;
    for line in tables::totals(s) {
        writeln!(out, "<p class=\"totals\">{}</p>", escape_html(&line))?;
    }
    writeln!(out, "</header>")?;

    // Table of contents: (anchor, title, count shown beside it).
    let mut toc: Vec<(&str, &str, Option<usize>)> =
        vec![("findings", "Findings", Some(s.findings.len()))];
    if !s.endpoints.is_empty() {
        toc.push(("verdicts", "Verdicts", None));
    }
    if !svgs.is_empty() {
        toc.push(("charts", "Charts", Some(svgs.len())));
    }
    for t in all.iter().filter(|t| t.id != "captures") {
        toc.push((t.id, t.title, None));
    }
    toc.push(("data-quality", "Data quality", None));
    writeln!(out, "<nav class=\"toc\" aria-label=\"Contents\">")?;
    writeln!(out, "<h2>Contents</h2>")?;
    writeln!(out, "<ol>")?;
    for (id, title, n) in &toc {
        let n = n.map(|n| format!(" ({n})")).unwrap_or_default();
        writeln!(
            out,
            "<li><a href=\"#{id}\">{}</a>{n}</li>",
            escape_html(title)
        )?;
    }
    writeln!(out, "</ol>")?;
    writeln!(out, "</nav>")?;

    writeln!(out, "<main>")?;
    writeln!(out, "<section id=\"findings\">")?;
    writeln!(out, "<h2>Findings</h2>")?;
    if s.findings.is_empty() {
        writeln!(
            out,
            "<p>No finding: nothing in this capture matched a rule (see the tables for the figures).</p>"
        )?;
    }
    for (i, f) in s.findings.iter().enumerate() {
        let sev = f.severity.as_str();
        writeln!(out, "<article class=\"finding {sev}\">")?;
        writeln!(
            out,
            "<h3><span class=\"sev {sev}\">{sev}</span>{}. {}</h3>",
            i + 1,
            html_with_code(&f.title)
        )?;
        for (head, items) in [("Evidence", &f.evidence), ("Fix", &f.fix)] {
            if items.is_empty() {
                continue;
            }
            writeln!(out, "<h4>{head}</h4>")?;
            writeln!(out, "<ul>")?;
            for item in items {
                writeln!(out, "<li>{}</li>", html_with_code(item))?;
            }
            writeln!(out, "</ul>")?;
        }
        if let Some(filter) = f.wireshark_filter() {
            writeln!(
                out,
                "<p class=\"filter\">Wireshark: <code>{}</code></p>",
                escape_html(&filter)
            )?;
        }
        writeln!(out, "</article>")?;
    }
    writeln!(out, "</section>")?;

    if !s.endpoints.is_empty() {
        writeln!(out, "<section id=\"verdicts\">")?;
        writeln!(out, "<h2>Verdicts</h2>")?;
        writeln!(out, "<ul class=\"verdicts\">")?;
        for e in s.endpoints.iter().take(VERDICTS) {
            let lines = verdict(e);
            let Some((first, detail)) = lines.split_first() else {
                continue;
            };
            write!(out, "<li>{}", verdict_head(e, first))?;
            if !detail.is_empty() {
                write!(out, "<ul>")?;
                for d in detail {
                    write!(out, "<li>{}</li>", escape_html(d))?;
                }
                write!(out, "</ul>")?;
            }
            writeln!(out, "</li>")?;
        }
        writeln!(out, "</ul>")?;
        if s.endpoints.len() > VERDICTS {
            writeln!(
                out,
                "<p class=\"more\">{} more endpoints in the tables below.</p>",
                s.endpoints.len() - VERDICTS
            )?;
        }
        writeln!(out, "</section>")?;
    }

    if !svgs.is_empty() {
        writeln!(out, "<section id=\"charts\">")?;
        writeln!(out, "<h2>Charts</h2>")?;
        for (c, svg) in &svgs {
            writeln!(out, "<figure>")?;
            writeln!(out, "<figcaption>{}</figcaption>", escape_html(c.title))?;
            writeln!(out, "{svg}")?;
            writeln!(out, "</figure>")?;
        }
        writeln!(out, "</section>")?;
    }

    for t in all.iter().filter(|t| t.id != "captures") {
        writeln!(out, "<section id=\"{}\">", t.id)?;
        writeln!(out, "<h2>{}</h2>", escape_html(t.title))?;
        table(out, t)?;
        writeln!(out, "</section>")?;
    }

    writeln!(out, "<section id=\"data-quality\">")?;
    writeln!(out, "<h2>Data quality</h2>")?;
    for t in all.iter().filter(|t| t.id == "captures") {
        table(out, t)?;
    }
    writeln!(out, "<ul>")?;
    for note in tables::quality_notes(s) {
        writeln!(out, "<li>{}</li>", escape_html(&note))?;
    }
    writeln!(out, "</ul>")?;
    writeln!(out, "</section>")?;
    writeln!(out, "</main>")?;
    writeln!(
        out,
        "<footer>Made by finscope from the capture alone; the JSON report has every row.</footer>"
    )?;
    writeln!(out, "</body>")?;
    writeln!(out, "</html>")
}
