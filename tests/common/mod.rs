//! Helpers shared by the integration tests (each test binary uses some of them).
#![allow(dead_code)]

use finscope::http::HttpSummary;
use finscope::pipeline::{self, Config};
use finscope::tcp::ConnRecord;

/// Absolute path of a shipped capture.
pub fn capture(name: &str) -> String {
    format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Every connection record of `path`, in stream order.
pub fn records_of(path: &str) -> Vec<ConnRecord> {
    let mut out = Vec::new();
    pipeline::run(
        &[path.to_string()],
        &Config::default(),
        &mut |r, _| {
            out.push(r.clone());
            Ok(())
        },
        &mut |_| {},
    )
    .expect("capture reads");
    out.sort_by_key(|r| r.stream);
    out
}

/// Every connection record of `path` with its HTTP summary, in stream order.
pub fn records_with_http(path: &str) -> Vec<(ConnRecord, HttpSummary)> {
    let mut out = Vec::new();
    pipeline::run(
        &[path.to_string()],
        &Config::default(),
        &mut |r, h| {
            out.push((r.clone(), h.clone()));
            Ok(())
        },
        &mut |_| {},
    )
    .expect("capture reads");
    out.sort_by_key(|(r, _)| r.stream);
    out
}
