//! The ticket-ready Markdown report: findings first, then the verdicts, the charts (linked
//! PNG files, with the SVG beside them) and the tables. Every string is escaped (see
//! [`super::escape`]); finscope's own `` `config snippets` `` stay code spans.

use std::io::{self, Write};

use crate::analysis::Summary;

use super::escape::{escape_md, md_with_code};
use super::tables::{self, Align, ChartRef, Table, VERDICTS};
use super::text::verdict;

/// A table with its note; under its own `##` heading when `heading` is set.
fn table(out: &mut dyn Write, t: &Table, heading: bool) -> io::Result<()> {
    if heading {
        writeln!(out, "## {}", escape_md(t.title))?;
        writeln!(out)?;
    }
    if let Some(note) = &t.note {
        writeln!(out, "{}", escape_md(note))?;
        writeln!(out)?;
    }
    let head: Vec<String> = t.columns.iter().map(|(c, _)| escape_md(c)).collect();
    writeln!(out, "| {} |", head.join(" | "))?;
    let rule: Vec<&str> = t
        .columns
        .iter()
        .map(|(_, a)| match a {
            Align::Left => "---",
            Align::Right => "--:",
        })
        .collect();
    writeln!(out, "|{}|", rule.join("|"))?;
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| escape_md(c)).collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    if let Some(more) = t.more_note() {
        writeln!(out)?;
        writeln!(out, "_{}_", escape_md(&more))?;
    }
    writeln!(out)
}

/// Writes the Markdown report of `s`, linking `charts` as `charts/<stem>.png` and `.svg`.
pub fn write_markdown(out: &mut dyn Write, s: &Summary, charts: &[ChartRef<'_>]) -> io::Result<()> {
    writeln!(
        out,
        "# finscope report: {}",
        escape_md(&tables::capture_names(s))
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        tables::totals(s)
            .iter()
            .map(|l| escape_md(l))
            .collect::<Vec<_>>()
            .join(" ")
    )?;
    writeln!(out)?;

    writeln!(out, "## Findings")?;
    writeln!(out)?;
    if s.findings.is_empty() {
        writeln!(
            out,
            "No finding: nothing in this capture matched a rule (see the tables for the figures)."
        )?;
        writeln!(out)?;
    }
    for (i, f) in s.findings.iter().enumerate() {
        writeln!(
            out,
            "### {}. \\[{}\\] {}",
            i + 1,
            f.severity.as_str(),
            md_with_code(&f.title)
        )?;
        writeln!(out)?;
        if !f.evidence.is_empty() {
            writeln!(out, "Evidence:")?;
            writeln!(out)?;
            for e in &f.evidence {
                writeln!(out, "- {}", md_with_code(e))?;
            }
            writeln!(out)?;
        }
        if !f.fix.is_empty() {
            writeln!(out, "Fix:")?;
            writeln!(out)?;
            for x in &f.fix {
                writeln!(out, "- {}", md_with_code(x))?;
            }
            writeln!(out)?;
        }
        if let Some(filter) = f.wireshark_filter() {
            writeln!(out, "Wireshark: {}", md_with_code(&format!("`{filter}`")))?;
            writeln!(out)?;
        }
    }

    if !s.endpoints.is_empty() {
        writeln!(out, "## Verdicts")?;
        writeln!(out)?;
        for e in s.endpoints.iter().take(VERDICTS) {
            let ep = e.endpoint.to_string();
            for (i, line) in verdict(e).iter().enumerate() {
                match line.strip_prefix(&format!("{ep}: ")) {
                    Some(rest) if i == 0 => {
                        writeln!(out, "- **{}**: {}", escape_md(&ep), escape_md(rest))?
                    }
                    _ if i == 0 => writeln!(out, "- {}", escape_md(line))?,
                    _ => writeln!(out, "  - {}", escape_md(line))?,
                }
            }
        }
        if s.endpoints.len() > VERDICTS {
            writeln!(out)?;
            writeln!(
                out,
                "_{} more endpoints in the tables below._",
                s.endpoints.len() - VERDICTS
            )?;
        }
        writeln!(out)?;
    }

    if !charts.is_empty() {
        writeln!(out, "## Charts")?;
        writeln!(out)?;
        for c in charts {
            let title = escape_md(c.title);
            writeln!(out, "### {title}")?;
            writeln!(out)?;
            writeln!(out, "![{title}]({})", c.file("png"))?;
            writeln!(out)?;
            writeln!(out, "[{title} (SVG)]({})", c.file("svg"))?;
            writeln!(out)?;
        }
    }

    let all = tables::tables(s);
    for t in all.iter().filter(|t| t.id != "captures") {
        table(out, t, true)?;
    }

    writeln!(out, "## Data quality")?;
    writeln!(out)?;
    for t in all.iter().filter(|t| t.id == "captures") {
        table(out, t, false)?;
    }
    for note in tables::quality_notes(s) {
        writeln!(out, "- {}", escape_md(&note))?;
    }
    Ok(())
}
