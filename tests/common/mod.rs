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

/// A named pipe that a thread writes the shipped capture `name` into, as `tcpdump -w fifo`
/// would: the write waits for a reader. [`NamedPipe::finish`] waits for the writer.
pub struct NamedPipe {
    _dir: tempfile::TempDir,
    path: String,
    writer: std::thread::JoinHandle<std::io::Result<()>>,
}

impl NamedPipe {
    pub fn of(name: &str) -> NamedPipe {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("capture.pcap");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let bytes = std::fs::read(capture(name)).unwrap();
        let path = fifo.to_str().unwrap().to_string();
        let writer = std::thread::spawn(move || std::fs::write(fifo, bytes));
        NamedPipe {
            _dir: dir,
            path,
            writer,
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Waits for the writer, which must have written everything.
    pub fn finish(self) {
        self.writer.join().unwrap().unwrap();
    }
}
