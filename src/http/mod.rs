//! HTTP/1.x on TCP stream bytes. Uses `time` only; nothing from `tcp`, which takes its hooks
//! as plain functions or handlers so that it knows no HTTP.
//!
//! [`HttpConn`] follows one connection. The TCP layer feeds it each end's in-order payload
//! ([`HttpConn::data`]), missing stretches ([`HttpConn::gap`]) and FINs
//! ([`HttpConn::end_of_stream`]), naming the ends 0 and 1 because roles may be decided late.
//! Each end is classified by its first bytes: a request line, a status line, a TLS handshake
//! record, the h2c preface or something else; a connection whose first sender is not HTTP/1.x
//! is labelled and then ignored. Heads are parsed straight from the caller's slice, by a strict
//! reader for the common shape and by httparse for the rest; bodies (Content-Length, chunked,
//! close-delimited) are skipped by arithmetic, and responses are matched in order to the
//! requests of the other end. Only a head split across calls is copied, into a buffer capped at
//! [`PENDING_MAX`]. A gap outside a body, or bytes that do not parse, make the stream look for
//! the next request or status line and carry on.
//! [`HttpConn::summary`] says what was seen.

mod conn;
mod head;
mod scan;
mod strict;
mod summary;
#[cfg(test)]
mod tests;

pub use conn::{HttpConn, PENDING_MAX};
use head::HeadMemo;
pub use summary::{App, HttpSummary, Method, RequestLine, Target};

/// Request methods recognised at the start of a client's first payload. `PRI` is the HTTP/2
/// connection preface (`PRI * HTTP/2.0`).
const METHODS: [&[u8]; 10] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
    b"PRI ",
];

/// Whether `payload` starts like an HTTP request line (`METHOD SP target`): the sender is then
/// the client. Used to tell roles apart when a capture starts after the handshake.
pub fn looks_like_request(payload: &[u8]) -> bool {
    METHODS.iter().any(|m| {
        payload.len() > m.len()
            && payload.starts_with(m)
            && matches!(payload[m.len()], b'/' | b'*' | b'h' | b'H' | b'a'..=b'z' | b'0'..=b'9')
    })
}

#[cfg(test)]
mod looks_like_request_tests {
    use super::*;

    #[test]
    fn request_lines_are_recognised() {
        assert!(looks_like_request(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_request(b"HEAD / HTTP/1.0\r\n\r\n"));
        assert!(looks_like_request(b"OPTIONS * HTTP/1.1\r\n"));
        assert!(looks_like_request(b"CONNECT example.com:443 HTTP/1.1\r\n"));
        assert!(looks_like_request(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    }

    #[test]
    fn responses_and_noise_are_not_requests() {
        assert!(!looks_like_request(b"HTTP/1.1 200 OK\r\n"));
        assert!(!looks_like_request(b"GET"));
        assert!(!looks_like_request(b"GET  /"));
        assert!(!looks_like_request(b"\x16\x03\x01\x02\x00"));
    }
}

/// Plugs [`HttpConn`] into the TCP tracker: each connection gets one, fed in sequence order.
#[derive(Debug, Default)]
pub struct HttpStreams {
    /// Heads parsed lately, shared by the connections.
    memo: HeadMemo,
}

impl crate::tcp::StreamHandler for HttpStreams {
    type Conn = HttpConn;

    fn open(&mut self) -> HttpConn {
        HttpConn::new()
    }

    fn data(&mut self, conn: &mut HttpConn, end: usize, ts: crate::time::Timestamp, bytes: &[u8]) {
        conn.data_with(end, ts, bytes, &mut self.memo);
    }

    fn gap(&mut self, conn: &mut HttpConn, end: usize, len: u64) {
        conn.gap(end, len);
    }

    fn end_of_stream(&mut self, conn: &mut HttpConn, end: usize, ts: crate::time::Timestamp) {
        conn.end_of_stream(end, ts);
    }

    fn touch(conn: &HttpConn) -> u64 {
        conn.touch()
    }
}
