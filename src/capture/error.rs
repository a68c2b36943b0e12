use thiserror::Error;

/// Why a capture could not be read. Each variant names the input.
#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a pcap or pcapng capture ({detail})")]
    NotACapture { path: String, detail: String },
    #[error("{path}: malformed capture at byte {offset}: {detail}")]
    Malformed {
        path: String,
        offset: u64,
        detail: String,
    },
}
