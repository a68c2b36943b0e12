//! Report files: chart SVG snapshot and PNG sizes on a shipped capture, and the --out
//! directory rules for analyze and compare. (Markdown/HTML snapshots: tests/reports.rs.)

mod common;

use finscope::analysis::Summary;
use finscope::chart;
use finscope::pipeline::{self, Config};

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
