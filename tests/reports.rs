//! Reports as files a ticket gets: Markdown, HTML and chart snapshots on shipped captures,
//! escaping of packet-derived text, valid PNGs, and the --out directory rules.

mod common;

use finscope::analysis::{Finding, Severity, Summary};
use finscope::chart;
use finscope::pipeline::{self, Config};
use finscope::report::{self, ChartRef};

const TINY_SVG: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>"#;

/// The summary of a shipped capture, read by its relative path so no absolute path appears.
fn summary(name: &str) -> Summary {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    pipeline::analyze(
        &[format!("captures/{name}")],
        &Config::default(),
        &mut |_| {},
    )
    .unwrap()
}

fn charts() -> Vec<ChartRef<'static>> {
    vec![ChartRef {
        title: "Who closes first, per server endpoint",
        file_stem: "closes-per-endpoint",
        svg: Some(TINY_SVG),
    }]
}

fn render(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    f(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn markdown_and_html_snapshots() {
    for name in [
        "nginx-default-upstream.pcap",
        "healthcheck-no-keepalive.pcap",
        "rst-linger0.pcap",
    ] {
        let s = summary(name);
        let md = render(|o| report::write_markdown(o, &s, &charts()));
        let html = render(|o| report::write_html(o, &s, &charts()));
        assert!(
            !md.contains(env!("CARGO_MANIFEST_DIR")) && !html.contains(env!("CARGO_MANIFEST_DIR"))
        );
        insta::assert_snapshot!(format!("{name}.md"), md);
        insta::assert_snapshot!(format!("{name}.html"), html);
    }
}

#[test]
fn chart_svg_snapshot_and_png_size() {
    let s = summary("nginx-default-upstream.pcap");
    let all = chart::report_charts(&s);
    assert_eq!(all.len(), 5);
    for (stem, _, c) in &all {
        let svg = chart::render_svg(c).unwrap();
        assert!(
            svg.contains("nginx-default-upstream.pcap"),
            "{stem}: title names the capture"
        );
        let png = chart::render_png(c).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        assert_eq!(
            (reader.info().width, reader.info().height),
            (c.width, c.height),
            "{stem}"
        );
    }
    let (_, _, closes) = &all[0];
    insta::assert_snapshot!(
        "closes-per-endpoint.svg",
        chart::render_svg(closes).unwrap()
    );
}

#[test]
fn packet_text_is_escaped_everywhere() {
    let mut s = summary("healthcheck-no-keepalive.pcap");
    let evil = "<script>alert(1)</script> | table | \x1b[31m =cmd()";
    s.findings.insert(
        0,
        Finding {
            id: "test",
            severity: Severity::Warning,
            title: format!("target {evil}"),
            evidence: vec![format!("HEAD {evil}")],
            fix: vec!["none".into()],
            streams: vec![1],
        },
    );
    let html = render(|o| report::write_html(o, &s, &charts()));
    assert!(html.contains("&lt;script&gt;"), "HTML escapes markup");
    assert!(!html.contains("<script"), "no raw script tag");
    assert!(!html.contains('\x1b'), "no escape byte in HTML");
    let md = render(|o| report::write_markdown(o, &s, &charts()));
    assert!(!md.contains("<script>"), "Markdown escapes markup");
    assert!(!md.contains('\x1b'), "no escape byte in Markdown");
    assert!(!md.contains("| table |"), "pipes are escaped in Markdown");
    let text = render(|o| report::write_text(o, &s));
    assert!(!text.contains('\x1b'), "no escape byte on the terminal");
}

fn finscope() -> assert_cmd::Command {
    assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("finscope"))
}

#[test]
fn out_dir_is_written_and_guarded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("report");
    let cap = common::capture("nginx-default-upstream.pcap");
    let out = finscope()
        .args(["analyze", "--out", dir.to_str().unwrap(), &cap])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "report.html",
        "report.md",
        "report.json",
        "charts/time-wait-per-host.svg",
        "charts/time-wait-per-host.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} written");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert!(json["findings"].as_array().unwrap().len() >= 2);
    // Writing again into finscope's own directory is allowed.
    assert!(finscope()
        .args(["analyze", "--out", dir.to_str().unwrap(), &cap])
        .output()
        .unwrap()
        .status
        .success());
    // A non-empty directory finscope did not create is refused without --force.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let out = finscope()
        .args(["analyze", "--out", foreign.to_str().unwrap(), &cap])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    let out = finscope()
        .args([
            "analyze",
            "--force",
            "--out",
            foreign.to_str().unwrap(),
            &cap,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn compare_out_dir_has_side_by_side_charts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cmp");
    let out = finscope()
        .args([
            "compare",
            "--out",
            dir.to_str().unwrap(),
            &common::capture("client-no-pool.pcap"),
            "--",
            &common::capture("client-pool.pcap"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "compare.html",
        "compare.md",
        "compare.json",
        "charts/compare-time-wait-per-host.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} written");
    }
    let html = std::fs::read_to_string(dir.join("compare.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("improved"));
}
