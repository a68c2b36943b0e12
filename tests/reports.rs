//! The Markdown and HTML reports: golden files (insta snapshots, never updated by CI) for every
//! shipped capture, packet-derived text escaped in both, and the HTML page self-contained.

use finscope::analysis::{Aggregator, Finding, Severity, Summary, TimeWaitConfig};
use finscope::pipeline::{self, Config};
use finscope::report::{write_html, write_markdown, ChartRef};

/// A tiny chart, so the snapshots do not depend on the chart module.
const SVG: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>"#;

const CHARTS: [ChartRef<'static>; 2] = [
    ChartRef {
        title: "Active closes per endpoint",
        file_stem: "closes-per-endpoint",
        svg: Some(SVG),
    },
    ChartRef {
        title: "TIME-WAIT over time per host",
        file_stem: "time-wait",
        svg: Some(SVG),
    },
];

/// The capture's path relative to the package root, as a user in the repository types it
/// (cargo runs integration tests from the package root), so no absolute path reaches the
/// output.
fn rel(name: &str) -> String {
    let p = format!("captures/{name}");
    assert!(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(&p)
            .exists(),
        "missing {p}"
    );
    p
}

fn analyze(name: &str) -> Summary {
    let mut s =
        pipeline::analyze(&[rel(name)], &Config::default(), &mut |_| {}).expect("capture reads");
    // Whatever the working directory was, show the path as given in the repository.
    for c in &mut s.captures {
        c.info.path = rel(name);
    }
    s
}

fn markdown(s: &Summary, charts: &[ChartRef<'_>]) -> String {
    let mut out = Vec::new();
    write_markdown(&mut out, s, charts).expect("writes");
    String::from_utf8(out).expect("utf-8")
}

fn html(s: &Summary, charts: &[ChartRef<'_>]) -> String {
    let mut out = Vec::new();
    write_html(&mut out, s, charts).expect("writes");
    String::from_utf8(out).expect("utf-8")
}

fn check_snapshots(name: &str) {
    let s = analyze(name);
    let (md, page) = (markdown(&s, &CHARTS), html(&s, &CHARTS));
    for out in [&md, &page] {
        assert!(!out.contains(env!("CARGO_MANIFEST_DIR")), "absolute path");
    }
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    insta::assert_snapshot!(format!("{stem}.md"), md);
    insta::assert_snapshot!(format!("{stem}.html"), page);
}

macro_rules! snapshots {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_snapshots($file);
            }
        )*
    };
}

snapshots! {
    snapshot_any_sll2 => "any-sll2.pcap",
    snapshot_chunked => "chunked.pcap",
    snapshot_client_no_pool => "client-no-pool.pcap",
    snapshot_client_pool => "client-pool.pcap",
    snapshot_healthcheck_fixed => "healthcheck-fixed.pcap",
    snapshot_healthcheck_no_keepalive => "healthcheck-no-keepalive.pcap",
    snapshot_ipv6 => "ipv6.pcap",
    snapshot_lost_segment => "lost-segment.pcap",
    snapshot_nginx_default_upstream => "nginx-default-upstream.pcap",
    snapshot_nginx_idle_timeout => "nginx-idle-timeout.pcap",
    snapshot_nginx_keepalive_timeout_0 => "nginx-keepalive-timeout-0.pcap",
    snapshot_nginx_keepalive_timeout_0_wait_eof => "nginx-keepalive-timeout-0-wait-eof.pcap",
    snapshot_nginx_upstream_keepalive => "nginx-upstream-keepalive.pcap",
    snapshot_pcapng_dumpcap => "pcapng-dumpcap.pcapng",
    snapshot_pipelined => "pipelined.pcap",
    snapshot_rst_linger0 => "rst-linger0.pcap",
    snapshot_tls => "tls.pcap",
    snapshot_truncated => "truncated.pcap",
    snapshot_tuple_reuse => "tuple-reuse.pcap",
}

/// What an attacker puts in a request target (and so in a health check, the verdicts and the
/// findings that quote it).
const HOSTILE: &str = "/<script>alert(1)</script>| table |\x1b[31m=cmd()";

/// healthcheck-no-keepalive.pcap with every request target replaced by [`HOSTILE`], folded
/// through the real analysis; plus a finding and a capture path carrying it too.
fn hostile_summary() -> Summary {
    let mut agg = Aggregator::with_time_wait(TimeWaitConfig::default());
    let stats = pipeline::run(
        &[rel("healthcheck-no-keepalive.pcap")],
        &Config::default(),
        &mut |r, http| {
            let mut http = http.clone();
            if let Some(q) = &mut http.first_request {
                q.target = HOSTILE.into();
            }
            agg.add(r, &http);
            Ok(())
        },
        &mut |_| {},
    )
    .expect("capture reads");
    let mut s = Summary::new(agg, stats.captures, stats.tracker, stats.warnings);
    s.captures[0].info.path = format!("captures/{HOSTILE}.pcap");
    s.findings.push(Finding {
        id: "test",
        severity: Severity::Critical,
        title: format!("quoted `{HOSTILE}` and bare {HOSTILE}"),
        evidence: vec![format!("evidence {HOSTILE}"), format!("`{HOSTILE}`")],
        fix: vec![format!(
            "fix `keepalive 16;` {HOSTILE} <img src=x onerror=alert(1)>"
        )],
        streams: vec![1, 2],
    });
    s
}

/// `|` not escaped by a backslash.
fn bare_pipes(line: &str) -> usize {
    let b = line.as_bytes();
    (0..b.len())
        .filter(|&i| b[i] == b'|' && (i == 0 || b[i - 1] != b'\\'))
        .count()
}

#[test]
fn packet_text_is_escaped_in_html() {
    let s = hostile_summary();
    // The rule saw the hostile target: the health-check finding quotes it.
    assert!(s
        .findings
        .iter()
        .any(|f| f.id == "health_checks_without_keepalive" && f.title.contains("<script>")));
    let page = html(&s, &CHARTS);
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;| table |=cmd()"));
    assert!(!page.to_ascii_lowercase().contains("<script"));
    assert!(!page.contains("<img"));
    assert!(!page.contains('\x1b'));
    assert!(
        !page.contains("[31m"),
        "the escape sequence is dropped whole"
    );
    // The health-check table cell, the verdict and the finding all carry it escaped.
    assert!(page.contains("<td class=\"l\">HEAD /&lt;script&gt;"));
    assert!(page.contains("<code>/&lt;script&gt;alert(1)&lt;/script&gt;| table |=cmd()</code>"));
    assert!(page.contains("<title>finscope report: captures//&lt;script&gt;"));
}

#[test]
fn packet_text_is_escaped_in_markdown() {
    let s = hostile_summary();
    let md = markdown(&s, &CHARTS);
    assert!(!md.to_ascii_lowercase().contains("<script"));
    assert!(!md.contains("<img"));
    assert!(!md.contains('\x1b'));
    assert!(!md.contains("[31m"));
    assert!(md.contains("&lt;script&gt;alert(1)&lt;/script&gt;\\| table \\|=cmd()"));
    // A hostile snippet in backticks is not left as a code span.
    assert!(md.contains("\\`/&lt;script"));
    assert!(md
        .match_indices("`/&lt;")
        .all(|(i, _)| md[..i].ends_with('\\')));
    // finscope's own snippet stays code.
    assert!(md.contains("fix \\`keepalive 16;\\`") || md.contains("fix `keepalive 16;`"));
    // Each table row keeps its cells: as many bare pipes as the header line.
    let mut rows = 0;
    let mut header = 0;
    for line in md.lines() {
        if line.starts_with("| endpoint | probe |") {
            header = bare_pipes(line);
        } else if line.contains("HEAD /&lt;script") && line.starts_with('|') {
            rows += 1;
            assert_eq!(bare_pipes(line), header, "{line}");
        }
    }
    assert_eq!((header, rows), (9, 2));
    // Every line of every table has the header's cell count.
    let mut width = None;
    for line in md.lines() {
        if line.starts_with('|') {
            let n = bare_pipes(line);
            assert_eq!(*width.get_or_insert(n), n, "{line}");
        } else {
            width = None;
        }
    }
}

#[test]
fn finscope_snippets_stay_code() {
    let s = analyze("nginx-default-upstream.pcap");
    let md = markdown(&s, &[]);
    assert!(md.contains(
        "`proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";`"
    ));
    assert!(md.contains("Wireshark: `tcp.stream in {1 3 7 9 11"));
    let page = html(&s, &[]);
    assert!(page.contains("<code>proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection &quot;&quot;;</code>"));
}

#[test]
fn html_is_self_contained() {
    let s = analyze("healthcheck-no-keepalive.pcap");
    let page = html(&s, &CHARTS);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    let lower = page.to_ascii_lowercase();
    for bad in ["<script", "<link", "src=", "url(", "@import", "https://"] {
        assert!(!lower.contains(bad), "{bad}");
    }
    // The only URL is the SVG namespace of the inlined charts (and none in a finding).
    let without_ns = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(
        without_ns
            .match_indices("http://")
            .all(|(i, _)| without_ns[..i].ends_with("proxy_pass ")),
        "an external URL"
    );
    assert_eq!(page.matches(SVG).count(), 2);
}

#[test]
fn only_svg_documents_are_inlined() {
    let s = analyze("rst-linger0.pcap");
    let declared = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{SVG}");
    let charts = [
        ChartRef {
            title: "not svg",
            file_stem: "a",
            svg: Some("<html><body><svg></svg></body></html>"),
        },
        ChartRef {
            title: "no svg",
            file_stem: "b",
            svg: None,
        },
        ChartRef {
            title: "declared",
            file_stem: "c",
            svg: Some(&declared),
        },
    ];
    let page = html(&s, &charts);
    assert!(!page.contains("<html><body>"));
    assert!(!page.contains("<?xml"));
    assert_eq!(page.matches(SVG).count(), 1);
    assert!(page.contains("<figcaption>declared</figcaption>"));
    assert!(!page.contains("<figcaption>not svg</figcaption>"));
    // Markdown links every chart's files, drawn or not.
    let md = markdown(&s, &charts);
    for stem in ["a", "b", "c"] {
        assert!(md.contains(&format!("](charts/{stem}.png)")));
        assert!(md.contains(&format!("](charts/{stem}.svg)")));
    }
}

#[test]
fn reports_are_deterministic() {
    let a = analyze("healthcheck-no-keepalive.pcap");
    let b = analyze("healthcheck-no-keepalive.pcap");
    assert_eq!(markdown(&a, &CHARTS), markdown(&b, &CHARTS));
    assert_eq!(html(&a, &CHARTS), html(&b, &CHARTS));
}
