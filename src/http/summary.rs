//! What the HTTP layer reports per connection: [`HttpSummary`] and its small enums.

use crate::time::Timestamp;

/// What a connection's payload was, judged from the first bytes of its first sender.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum App {
    /// No payload seen.
    #[default]
    None,
    /// HTTP/1.x requests or responses.
    Http,
    /// A TLS handshake record (`16 03 0x`): encrypted, not counted.
    Tls,
    /// The h2c connection preface `PRI * HTTP/2.0`.
    Http2,
    /// Payload that is none of the above.
    Other,
}

impl App {
    pub fn as_str(self) -> &'static str {
        match self {
            App::None => "none",
            App::Http => "http",
            App::Tls => "tls",
            App::Http2 => "http2",
            App::Other => "other",
        }
    }
}

/// A request method; anything unlisted is [`Method::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Connect,
    Trace,
    Other,
}

impl Method {
    /// Every method, in the order of [`HttpSummary::methods`].
    pub const ALL: [Method; 10] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Options,
        Method::Patch,
        Method::Connect,
        Method::Trace,
        Method::Other,
    ];

    /// The method named by `token` (case-sensitive, as RFC 9110 says).
    pub fn from_token(token: &[u8]) -> Method {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"PATCH" => Method::Patch,
            b"CONNECT" => Method::Connect,
            b"TRACE" => Method::Trace,
            _ => Method::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
            Method::Other => "OTHER",
        }
    }

    /// Index into [`HttpSummary::methods`].
    pub fn idx(self) -> usize {
        self as usize
    }
}

/// The first request of a connection, kept to recognise health checks (`HEAD /`, `GET /health`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLine {
    pub method: Method,
    /// The request target, cut to [`RequestLine::TARGET_MAX`] bytes, lossy UTF-8.
    pub target: Target,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Whether the request carried a `Host` header.
    pub has_host: bool,
}

impl RequestLine {
    pub const TARGET_MAX: usize = 200;
}

/// A request target as a connection's summary keeps it: up to [`Target::INLINE`] bytes in
/// place, longer ones on the heap. Most targets are short (`/`, `/health`), and a finished
/// connection's summary is read again only after the linger time, long after it was written:
/// a target on the heap would cost an allocation per connection and a cache miss then.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Target(Repr);

/// One string has one representation (by its length, and zero-padded in place), so the derived
/// equality and hash are those of the string.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// Always UTF-8: it is copied from a `&str`.
    Inline {
        len: u8,
        bytes: [u8; Target::INLINE],
    },
    Heap(Box<str>),
}

impl Target {
    /// Longest target kept in place; the whole value is as large as a `String`.
    pub const INLINE: usize = 22;

    pub fn new(s: &str) -> Self {
        if s.len() > Target::INLINE {
            return Target(Repr::Heap(s.into()));
        }
        let mut bytes = [0; Target::INLINE];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Target(Repr::Inline {
            len: s.len() as u8,
            bytes,
        })
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Copied whole from a `&str`, so it cannot fail; the empty string would only hide a
            // bug, never a panic in a report.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Heap(s) => s,
        }
    }
}

impl std::ops::Deref for Target {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Target {
    fn from(s: &str) -> Self {
        Target::new(s)
    }
}

impl From<String> for Target {
    fn from(s: String) -> Self {
        Target::new(&s)
    }
}

impl PartialEq<str> for Target {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Target {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HTTP/1.x seen on one connection. Client and server are as the caller of
/// [`HttpConn::summary`](super::HttpConn::summary) named them; everything else is judged from the
/// bytes (a request is a request whoever sent it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpSummary {
    pub app: App,
    /// Request heads seen.
    pub requests: u32,
    /// Final responses (status 200..=599 or any non-1xx code).
    pub responses: u32,
    /// Interim responses (1xx, including a `101 Switching Protocols`).
    pub interim_responses: u32,
    /// Requests per method, indexed by [`Method::idx`]; see [`HttpSummary::method_counts`].
    pub methods: [u32; 10],
    /// Requests by version: `[HTTP/1.0, HTTP/1.1]`.
    pub request_versions: [u32; 2],
    /// Final responses by version: `[HTTP/1.0, HTTP/1.1]`.
    pub response_versions: [u32; 2],
    /// Responses by status class `[1xx, 2xx, 3xx, 4xx, 5xx]`, final and interim.
    pub status_classes: [u32; 5],
    pub requests_without_host: u32,
    /// Requests carrying the `Connection` token `close` / `keep-alive`.
    pub client_conn_close: u32,
    pub client_keep_alive: u32,
    /// Final responses carrying the `Connection` token `close` / `keep-alive`.
    pub server_conn_close: u32,
    pub server_keep_alive: u32,
    /// `timeout=N` of the last response `Keep-Alive` header that had one.
    pub keep_alive_timeout_s: Option<u32>,
    pub first_request: Option<RequestLine>,
    /// Capture time of the data that completed the last request head.
    pub last_request_ts: Option<Timestamp>,
    /// Capture time at which the last final response was complete: its last body byte, or the
    /// end of the server's stream for a body delimited by the close.
    pub last_response_ts: Option<Timestamp>,
    /// The last request was HTTP/1.0 without `Connection: keep-alive`, or said `Connection: close`.
    pub last_request_wants_close: bool,
    /// The last final response said `Connection: close`, or was HTTP/1.0 without keep-alive.
    pub last_response_close: bool,
    /// Requests without a final response (yet).
    pub unanswered_requests: u32,
    /// Requests sent by the end the caller named the server (roles disagree with the bytes).
    pub requests_from_server: u32,
    /// Gaps reported in either stream.
    pub gaps: u32,
    /// Times a stream found a request or status line again after losing its place.
    pub resyncs: u32,
    /// Message heads, chunk sizes or first bytes that could not be parsed (the stream then
    /// resynchronises).
    pub parse_errors: u32,
    /// A `101 Switching Protocols` (or a 2xx answer to `CONNECT`) ended HTTP on the connection.
    pub upgraded: bool,
}

impl HttpSummary {
    /// `(method, requests)` for every method with at least one request, in [`Method::ALL`] order.
    pub fn method_counts(&self) -> impl Iterator<Item = (Method, u32)> + '_ {
        Method::ALL
            .iter()
            .map(|&m| (m, self.methods[m.idx()]))
            .filter(|&(_, n)| n > 0)
    }
}
