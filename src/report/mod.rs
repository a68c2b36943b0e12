//! Renderers: pure functions from a [`Summary`](crate::analysis::Summary) or a
//! [`ConnRecord`](crate::tcp::ConnRecord) to a writer. Text for terminals, JSON for machines,
//! NDJSON and CSV for per-connection streams. Uses `analysis`, `tcp` and `capture` types; never
//! prints by itself.

mod compare;
mod conns;
mod escape;
mod html;
mod json;
mod markdown;
mod tables;
mod text;

pub use compare::{
    compare_json, write_compare_html, write_compare_json, write_compare_markdown,
    write_compare_text,
};
pub use conns::{
    write_csv_header, write_csv_record, write_ndjson_record, RecordFormat, RecordWriter,
};
pub use html::write_html;
pub use json::{summary_json, write_json, SCHEMA_VERSION};
pub use markdown::write_markdown;
pub use tables::ChartRef;
pub use text::write_text;

/// A short name for a LINKTYPE_* code.
pub fn linktype_name(code: u16) -> &'static str {
    match code {
        0 => "null",
        1 => "ethernet",
        12 | 14 | 101 => "raw",
        108 => "loop",
        113 => "linux_sll",
        228 => "ipv4",
        229 => "ipv6",
        276 => "linux_sll2",
        _ => "other",
    }
}

/// Seconds since the epoch as a JSON number with microsecond precision.
pub(crate) fn secs(ts: crate::time::Timestamp) -> f64 {
    (ts.nanos() as f64 / 1e3).round() / 1e6
}
