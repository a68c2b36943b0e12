//! One message head: the facts the tracker needs from a request or response head, read into
//! small owned values so that nothing borrows the parsed bytes afterwards. The common head goes
//! through the strict reader of [`super::strict`]; the rest through httparse.

use std::mem::MaybeUninit;

use httparse::{Header, ParserConfig, Status};

use super::scan;
use super::strict;
use super::summary::{Method, RequestLine, Target};

/// What a message head says about framing and the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct HeadInfo {
    pub(super) conn_close: bool,
    pub(super) keep_alive: bool,
    pub(super) has_host: bool,
    pub(super) chunked: bool,
    /// `Transfer-Encoding` present but not ending in `chunked`.
    pub(super) other_coding: bool,
    pub(super) content_length: Option<u64>,
    /// A `Content-Length` that is not a number, or two that differ.
    pub(super) bad_length: bool,
    pub(super) keep_alive_timeout: Option<u32>,
}

impl HeadInfo {
    fn of(headers: &[Header<'_>]) -> HeadInfo {
        let mut h = HeadInfo::default();
        for hd in headers {
            h.add(hd.name.as_bytes(), hd.value);
        }
        h
    }

    /// Whether header `name` may be one [`HeadInfo::add`] reads, by its length and first
    /// letter: most headers (`Date`, `Server`, `Content-Type`, ...) are passed over on this.
    #[inline]
    pub(super) fn may_want(name: &[u8]) -> bool {
        matches!(
            (name.len(), name.first().map(|b| b | 0x20)),
            (4, Some(b'h')) | (10, Some(b'c' | b'k')) | (14, Some(b'c')) | (17, Some(b't'))
        )
    }

    /// Takes in one header; `value` without the whitespace around it.
    #[inline]
    pub(super) fn add(&mut self, name: &[u8], value: &[u8]) {
        let h = self;
        // The length picks the one name worth comparing: most headers are none of these.
        match name.len() {
            10 if scan::name_is(name, b"connection") => {
                let (close, keep_alive) = scan::close_and_keep_alive(value);
                h.conn_close |= close;
                h.keep_alive |= keep_alive;
            }
            4 if scan::name_is(name, b"host") => h.has_host = true,
            17 if scan::name_is(name, b"transfer-encoding") => {
                let chunked = scan::last_is_chunked(value);
                h.chunked = chunked;
                h.other_coding = !chunked;
            }
            14 if scan::name_is(name, b"content-length") => {
                match (scan::decimal(value), h.content_length) {
                    (Some(n), None) => h.content_length = Some(n),
                    (Some(n), Some(m)) if n == m => {}
                    _ => h.bad_length = true,
                }
            }
            10 if scan::name_is(name, b"keep-alive") => {
                if let Some(t) = scan::keep_alive_timeout(value) {
                    h.keep_alive_timeout = Some(t);
                }
            }
            _ => {}
        }
    }

    /// HTTP/1.0 closes unless it asks for keep-alive; any version closes on `close`.
    pub(super) fn wants_close(&self, version: u8) -> bool {
        self.conn_close || (version == 0 && !self.keep_alive)
    }
}

pub(super) struct RequestHead {
    pub(super) method: Method,
    pub(super) version: u8,
    /// Only for the connection's first request.
    pub(super) target: Option<Target>,
    pub(super) info: HeadInfo,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct ResponseHead {
    pub(super) code: u16,
    pub(super) version: u8,
    pub(super) info: HeadInfo,
}

/// Heads the strict reader parsed lately, by their bytes. Many heads repeat byte for byte
/// across connections (a load balancer's health check, a client's fixed request, a static
/// response within the same second of its `Date`); such a head is answered by one comparison
/// instead of a parse. Exact: the strict reader's answer depends only on the head's own bytes,
/// up to and including its empty line, so an equal head gets an equal answer.
#[derive(Debug, Default)]
pub(crate) struct HeadMemo {
    requests: Recent<KnownRequest>,
    responses: Recent<KnownResponse>,
}

/// A request head's facts, with its target as a range of its bytes.
#[derive(Clone, Debug)]
struct KnownRequest {
    len: usize,
    method: Method,
    version: u8,
    target: std::ops::Range<usize>,
    info: HeadInfo,
}

#[derive(Clone, Copy, Debug)]
struct KnownResponse {
    len: usize,
    head: ResponseHead,
}

/// Heads of one kind kept, replaced oldest first: enough for the two hops of a proxy and a
/// health check or two.
const RECENT_HEADS: usize = 4;

/// Heads and what they said; a head's bytes end with its empty line.
#[derive(Debug)]
struct Recent<T> {
    heads: Vec<(Vec<u8>, T)>,
    /// The entry the next new head replaces.
    next: usize,
    /// Heads not found here so far.
    misses: u32,
}

/// One head in this many of those not found is kept: where heads do not repeat, copying each
/// would cost more than the parse it never saves; where they do, a repeated head is kept
/// after a few of its repeats.
const KEEP_EVERY: u32 = 8;

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Recent {
            heads: Vec::new(),
            next: 0,
            misses: 0,
        }
    }
}

impl<T: Clone> Recent<T> {
    /// What was kept for the head that `buf` starts with. The empty line that would end such
    /// a head in `buf` is looked at first: heads of another length fail on it, without a
    /// comparison of the bytes.
    #[inline]
    fn find(&self, buf: &[u8]) -> Option<T> {
        self.heads
            .iter()
            .find(|(bytes, _)| {
                let n = bytes.len();
                buf.get(n - 4..n) == Some(b"\r\n\r\n") && buf[..n] == bytes[..]
            })
            .map(|(_, known)| known.clone())
    }

    /// Takes note of a head that was not found, and keeps one in [`KEEP_EVERY`] of them, in
    /// the place of the oldest once full (its buffer is reused).
    fn put(&mut self, bytes: &[u8], known: T) {
        self.misses = self.misses.wrapping_add(1);
        if self.misses % KEEP_EVERY != 1 {
            return;
        }
        if self.heads.len() < RECENT_HEADS {
            self.heads.push((bytes.to_vec(), known));
            return;
        }
        let (kept, k) = &mut self.heads[self.next];
        kept.clear();
        kept.extend_from_slice(bytes);
        *k = known;
        self.next = (self.next + 1) % RECENT_HEADS;
    }
}

/// Lenient parsing, as real servers and browsers are.
fn parser_config() -> ParserConfig {
    let mut c = ParserConfig::default();
    c.allow_multiple_spaces_in_request_line_delimiters(true)
        .ignore_invalid_headers_in_requests(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .ignore_invalid_headers_in_responses(true);
    c
}

/// The request line's target as kept for the connection's first request.
fn first_target(target: &[u8]) -> Target {
    Target::new(&String::from_utf8_lossy(
        &target[..target.len().min(RequestLine::TARGET_MAX)],
    ))
}

/// Headers parsed on the stack (and read by the strict reader); a head with more is parsed
/// again with [`HEADERS_MAX`].
pub(super) const HEADERS: usize = 64;
const HEADERS_MAX: usize = 256;

/// A request head at the start of `buf`: from `memo`, else the strict reader (kept in `memo`),
/// else httparse. `None` for bytes that are not a head.
pub(super) fn parse_request(
    buf: &[u8],
    want_target: bool,
    memo: &mut HeadMemo,
) -> Option<Status<(usize, RequestHead)>> {
    let known = match memo.requests.find(buf) {
        Some(k) => Some(k),
        None => strict::request(buf).map(|r| {
            let start = r.target_start;
            let known = KnownRequest {
                len: r.len,
                method: Method::from_token(r.method),
                version: r.version,
                target: start..start + r.target.len(),
                info: r.info,
            };
            memo.requests.put(&buf[..r.len], known.clone());
            known
        }),
    };
    if let Some(k) = known {
        return Some(Status::Complete((
            k.len,
            RequestHead {
                method: k.method,
                version: k.version,
                target: want_target.then(|| first_target(&buf[k.target])),
                info: k.info,
            },
        )));
    }
    parse_with_retry(
        || httparse_request::<HEADERS>(buf, want_target),
        || httparse_request::<HEADERS_MAX>(buf, want_target),
    )
}

/// [`parse_request`] without the strict reader.
pub(super) fn httparse_request<const N: usize>(
    buf: &[u8],
    want_target: bool,
) -> httparse::Result<(usize, RequestHead)> {
    let mut headers = [MaybeUninit::<Header<'_>>::uninit(); N];
    let mut req = httparse::Request::new(&mut []);
    let n = match parser_config().parse_request_with_uninit_headers(&mut req, buf, &mut headers)? {
        Status::Complete(n) => n,
        Status::Partial => return Ok(Status::Partial),
    };
    let method = req.method.unwrap_or("");
    let target = req
        .path
        .filter(|_| want_target)
        .map(|p| first_target(p.as_bytes()));
    Ok(Status::Complete((
        n,
        RequestHead {
            method: Method::from_token(method.as_bytes()),
            version: req.version.unwrap_or(1).min(1),
            target,
            info: HeadInfo::of(req.headers),
        },
    )))
}

/// A response head at the start of `buf`, as [`parse_request`] finds a request head.
pub(super) fn parse_response(
    buf: &[u8],
    memo: &mut HeadMemo,
) -> Option<Status<(usize, ResponseHead)>> {
    if let Some(head) = memo.responses.find(buf) {
        return Some(Status::Complete((head.len, head.head)));
    }
    if let Some(r) = strict::response(buf) {
        let head = ResponseHead {
            code: r.code,
            version: r.version,
            info: r.info,
        };
        memo.responses
            .put(&buf[..r.len], KnownResponse { len: r.len, head });
        return Some(Status::Complete((r.len, head)));
    }
    parse_with_retry(
        || httparse_response::<HEADERS>(buf),
        || httparse_response::<HEADERS_MAX>(buf),
    )
}

/// [`parse_response`] without the strict reader.
pub(super) fn httparse_response<const N: usize>(
    buf: &[u8],
) -> httparse::Result<(usize, ResponseHead)> {
    let mut headers = [MaybeUninit::<Header<'_>>::uninit(); N];
    let mut resp = httparse::Response::new(&mut []);
    let n =
        match parser_config().parse_response_with_uninit_headers(&mut resp, buf, &mut headers)? {
            Status::Complete(n) => n,
            Status::Partial => return Ok(Status::Partial),
        };
    Ok(Status::Complete((
        n,
        ResponseHead {
            code: resp.code.unwrap_or(0),
            version: resp.version.unwrap_or(1).min(1),
            info: HeadInfo::of(resp.headers),
        },
    )))
}

/// Parses with a stack array of [`HEADERS`], and again with [`HEADERS_MAX`] if that was too few.
fn parse_with_retry<T>(
    small: impl FnOnce() -> httparse::Result<T>,
    large: impl FnOnce() -> httparse::Result<T>,
) -> Option<Status<T>> {
    match small() {
        Ok(s) => Some(s),
        Err(httparse::Error::TooManyHeaders) => large().ok(),
        Err(_) => None,
    }
}
