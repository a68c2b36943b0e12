//! A strict reader for the common message head: `METHOD SP target SP HTTP/1.x CRLF` or
//! `HTTP/1.x SP code SP reason CRLF`, then `name: value CRLF` lines with printable ASCII, and an
//! empty line, all in the buffer. It reads only what [`HeadInfo`] needs and answers `None` for
//! anything else (a head cut short, bare LF, folded lines, extra spaces, non-ASCII bytes, more
//! than [`HEADERS`] headers), which the caller hands to httparse: whatever this reader accepts,
//! httparse parses to the same facts (a property test checks it).
//!
//! A header name is not checked to be a token: one that holds a printable non-token byte (`"`,
//! `(`, `@`, ...) cannot equal any of the names the facts come from, and httparse, told to
//! ignore invalid headers, drops that line; so the facts agree without a lookup per byte.

// `HEADERS`: headers read before giving up, as many as httparse's first attempt holds.
use super::head::{HeadInfo, HEADERS};

/// A request line and the head's facts.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Request<'a> {
    /// Bytes of the whole head, up to and including the empty line.
    pub len: usize,
    pub method: &'a [u8],
    pub target: &'a [u8],
    /// Where `target` starts in the head.
    pub target_start: usize,
    pub version: u8,
    pub info: HeadInfo,
}

/// A status line and the head's facts.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Response {
    pub len: usize,
    pub code: u16,
    pub version: u8,
    pub info: HeadInfo,
}

pub(super) fn request(buf: &[u8]) -> Option<Request<'_>> {
    let method_len = buf.iter().position(|&b| !b.is_ascii_uppercase())?;
    if method_len == 0 || buf[method_len] != b' ' {
        return None;
    }
    let target_start = method_len + 1;
    let target_len = target_run(&buf[target_start..]);
    let space = target_start + target_len;
    if target_len == 0 || buf.get(space) != Some(&b' ') {
        return None;
    }
    let (version, line_end) = version_at(buf, space + 1)?;
    if buf.get(line_end..line_end + 2)? != b"\r\n" {
        return None;
    }
    let (len, info) = headers(buf, line_end + 2)?;
    Some(Request {
        len,
        method: &buf[..method_len],
        target: &buf[target_start..space],
        target_start,
        version,
        info,
    })
}

pub(super) fn response(buf: &[u8]) -> Option<Response> {
    let (version, at) = version_at(buf, 0)?;
    let line = buf.get(at..at + 6)?;
    if line[0] != b' ' || !line[1..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = line[1..4]
        .iter()
        .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    let reason_end = match &line[4..6] {
        b"\r\n" => at + 4,
        [b' ', _] => at + 5 + value_run(&buf[at + 5..]),
        _ => return None,
    };
    if buf.get(reason_end..reason_end + 2)? != b"\r\n" {
        return None;
    }
    let (len, info) = headers(buf, reason_end + 2)?;
    Some(Response {
        len,
        code,
        version,
        info,
    })
}

/// `HTTP/1.0` or `HTTP/1.1` at `at`: the minor version and the offset after it.
fn version_at(buf: &[u8], at: usize) -> Option<(u8, usize)> {
    match buf.get(at..at + 8)? {
        b"HTTP/1.1" => Some((1, at + 8)),
        b"HTTP/1.0" => Some((0, at + 8)),
        _ => None,
    }
}

/// Header lines from `at` to the empty line: the head's length and facts.
fn headers(buf: &[u8], mut at: usize) -> Option<(usize, HeadInfo)> {
    let mut info = HeadInfo::default();
    let mut count = 0;
    loop {
        let rest = &buf[at..];
        if rest.starts_with(b"\r\n") {
            return Some((at + 2, info));
        }
        count += 1;
        if count > HEADERS {
            return None;
        }
        // The name is printable ASCII without spaces, up to the first colon.
        let name_len = name_run(rest);
        if name_len == 0 || rest.get(name_len) != Some(&b':') {
            return None;
        }
        // The value with the whitespace around it (SP and HT, which it may also hold).
        let line_end = name_len + 1 + value_run(&rest[name_len + 1..]);
        if rest.get(line_end..line_end + 2)? != b"\r\n" {
            return None;
        }
        if HeadInfo::may_want(&rest[..name_len]) {
            let value = rest[name_len + 1..line_end].trim_ascii();
            info.add(&rest[..name_len], value);
        }
        at += line_end + 2;
    }
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGH: u64 = u64::from_le_bytes([0x80; 8]);

/// Bit 7 set in each byte of `w` that lies outside `lo..='~'`, and perhaps in bytes above
/// such a byte (the borrows and carries only run upwards from it), so the lowest set bit is
/// exact.
#[inline]
fn outside(w: u64, lo: u8) -> u64 {
    let below = w.wrapping_sub(ONES * u64::from(lo)) & !w;
    let above = w.wrapping_add(ONES) | w;
    (below | above) & HIGH
}

/// How many bytes at the start of `b` may stand in a header name: `'!'..='~'` but `:`.
#[inline]
fn name_run(b: &[u8]) -> usize {
    run(b, b'!', false, true)
}

/// How many bytes at the start of `b` may stand in a header value: HT and `' '..='~'`.
#[inline]
fn value_run(b: &[u8]) -> usize {
    run(b, b' ', true, false)
}

/// How many bytes at the start of `b` may stand in a request target: `'!'..='~'`.
#[inline]
fn target_run(b: &[u8]) -> usize {
    run(b, b'!', false, false)
}

/// How many bytes at the start of `b` lie in `lo..='~'` (or are a tab, with `tab`), up to the
/// first colon (with `colon`). Eight at a time: a word's lowest flagged byte is exactly its
/// first byte that ends the run (the borrows and carries that can flag other bytes only run
/// upwards from a flagged one).
#[inline]
fn run(b: &[u8], lo: u8, tab: bool, colon: bool) -> usize {
    const COLONS: u64 = u64::from_le_bytes([b':'; 8]);
    let mut at = 0;
    while let Some(word) = b.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let w = u64::from_le_bytes(*word);
        let mut stop = outside(w, lo);
        if colon {
            let x = w ^ COLONS;
            stop |= x.wrapping_sub(ONES) & !x & HIGH;
        }
        if stop == 0 {
            at += 8;
            continue;
        }
        let first = at + (stop.trailing_zeros() / 8) as usize;
        if tab && b[first] == b'\t' {
            at = first + 1;
            continue;
        }
        return first;
    }
    at + b[at..]
        .iter()
        .position(|&c| {
            let taken = (lo..=b'~').contains(&c) || (tab && c == b'\t');
            !taken || (colon && c == b':')
        })
        .unwrap_or(b.len() - at)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::head::{
        httparse_request, httparse_response, parse_request, parse_response, HeadMemo,
    };
    use super::super::summary::Method;
    use super::*;

    /// Bytes that matter to either parser.
    const ALPHABET: &[u8] = b"GETPOSHDA /HTP1.0\r\n:\t ,;=xyzCcKkLlnghtsdu-_09\x00\x7f\x80\xff";

    /// Whenever the strict reader answers, httparse (both attempts, as the caller makes them)
    /// says the same.
    fn agrees(buf: &[u8]) {
        if let Some(r) = request(buf) {
            let Ok(httparse::Status::Complete((n, head))) = httparse_request::<256>(buf, true)
            else {
                panic!("httparse refuses a request the strict reader took: {buf:?}");
            };
            assert_eq!(n, r.len, "{buf:?}");
            assert_eq!(head.method, Method::from_token(r.method), "{buf:?}");
            assert_eq!(head.version, r.version, "{buf:?}");
            assert_eq!(
                head.target.as_deref().map(str::as_bytes),
                Some(r.target),
                "{buf:?}"
            );
            assert_eq!(head.info, r.info, "{buf:?}");
        }
        if let Some(r) = response(buf) {
            let Ok(httparse::Status::Complete((n, head))) = httparse_response::<256>(buf) else {
                panic!("httparse refuses a response the strict reader took: {buf:?}");
            };
            assert_eq!(
                (n, head.code, head.version),
                (r.len, r.code, r.version),
                "{buf:?}"
            );
            assert_eq!(head.info, r.info, "{buf:?}");
        }
    }

    fn start_line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (
                prop::sample::select(vec!["GET", "HEAD", "POST", "CONNECT", "PURGE"]),
                "[!-~]{1,12}",
                prop::sample::select(vec!["HTTP/1.0", "HTTP/1.1"]),
            )
                .prop_map(|(m, t, v)| format!("{m} {t} {v}\r\n").into_bytes()),
            (
                prop::sample::select(vec!["HTTP/1.0", "HTTP/1.1"]),
                100u16..600,
                "[ -~\t]{0,10}",
            )
                .prop_map(|(v, c, r)| format!("{v} {c} {r}\r\n").into_bytes()),
        ]
    }

    fn header() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::sample::select(vec![
                "Host",
                "connection",
                "Connection",
                "Content-Length",
                "content-length",
                "Transfer-Encoding",
                "Keep-Alive",
                "X-Other",
            ]),
            "[ \t]{0,2}",
            prop::sample::select(vec![
                "close",
                "keep-alive",
                "Keep-Alive, Upgrade",
                "12",
                "007",
                "12, 12",
                "-1",
                "chunked",
                "gzip, chunked",
                "chunked, gzip",
                "timeout=5, max=100",
                "timeout=x",
                "",
                "a\tb",
            ]),
            "[ \t]{0,2}",
        )
            .prop_map(|(n, a, v, b)| format!("{n}:{a}{v}{b}\r\n").into_bytes())
    }

    fn valid_head() -> impl Strategy<Value = Vec<u8>> {
        (
            start_line(),
            prop::collection::vec(header(), 0..8),
            prop::collection::vec(any::<u8>(), 0..8),
        )
            .prop_map(|(mut head, headers, tail)| {
                for h in headers {
                    head.extend(h);
                }
                head.extend(b"\r\n");
                head.extend(tail);
                head
            })
    }

    #[derive(Clone, Debug)]
    enum Edit {
        Set(usize, u8),
        Insert(usize, u8),
        Remove(usize),
        Cut(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let byte = prop::sample::select(ALPHABET.to_vec());
        prop_oneof![
            (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Set(i, b)),
            (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
            any::<usize>().prop_map(Edit::Remove),
            any::<usize>().prop_map(Edit::Cut),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn agrees_with_httparse_on_valid_heads(head in valid_head()) {
            agrees(&head);
            prop_assert!(request(&head).is_some() || response(&head).is_some());
        }

        #[test]
        fn agrees_with_httparse_on_mutated_heads(
            head in valid_head(),
            edits in prop::collection::vec(edit(), 1..4),
        ) {
            let mut head = head;
            for e in edits {
                let at = |i: usize| i % (head.len() + 1);
                match e {
                    Edit::Set(i, b) if !head.is_empty() => {
                        let i = i % head.len();
                        head[i] = b;
                    }
                    Edit::Insert(i, b) => head.insert(at(i), b),
                    Edit::Remove(i) if !head.is_empty() => {
                        head.remove(i % head.len());
                    }
                    Edit::Cut(i) => head.truncate(at(i)),
                    _ => {}
                }
            }
            agrees(&head);
        }

        #[test]
        fn agrees_with_httparse_on_arbitrary_bytes(
            buf in prop::collection::vec(prop::sample::select(ALPHABET.to_vec()), 0..64),
        ) {
            agrees(&buf);
        }

        #[test]
        fn agrees_with_httparse_on_any_bytes(buf in prop::collection::vec(any::<u8>(), 0..64)) {
            agrees(&buf);
        }
    }

    #[test]
    fn unusual_heads_are_left_to_httparse() {
        for head in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n"[..],
            b"GET / HTTP/1.1\nHost: a\n\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"\r\nGET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Name: a\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: caf\xc3\xa9\r\n\r\n",
        ] {
            assert!(
                request(head).is_none() && response(head).is_none(),
                "{head:?}"
            );
        }
        let many: Vec<u8> = [&b"GET / HTTP/1.1\r\n"[..]]
            .into_iter()
            .chain(std::iter::repeat_n(&b"X: 1\r\n"[..], HEADERS + 1))
            .chain([&b"\r\n"[..]])
            .flatten()
            .copied()
            .collect();
        assert!(request(&many).is_none());
    }

    /// What a request head parse says, comparably.
    fn request_facts(
        r: Option<httparse::Status<(usize, super::super::head::RequestHead)>>,
    ) -> Option<(usize, Method, u8, Option<String>, HeadInfo)> {
        match r {
            Some(httparse::Status::Complete((n, h))) => Some((
                n,
                h.method,
                h.version,
                h.target.map(|t| t.as_str().to_string()),
                h.info,
            )),
            _ => None,
        }
    }

    proptest! {
        /// Heads answered from the memo (drawn from a few, so that they repeat, each time with
        /// other bytes after them) get what a parse without it gives.
        #[test]
        fn the_head_memo_answers_as_a_parse_does(
            pool in prop::collection::vec(valid_head(), 1..4),
            picks in prop::collection::vec(
                (0usize..4, prop::collection::vec(any::<u8>(), 0..8), any::<bool>()),
                1..40,
            ),
        ) {
            let mut memo = HeadMemo::default();
            for (i, tail, want_target) in picks {
                let mut buf = pool[i % pool.len()].clone();
                buf.extend(tail);
                let fresh = || HeadMemo::default();
                prop_assert_eq!(
                    request_facts(parse_request(&buf, want_target, &mut memo)),
                    request_facts(parse_request(&buf, want_target, &mut fresh()))
                );
                let facts = |r: Option<httparse::Status<(usize, super::super::head::ResponseHead)>>| match r {
                    Some(httparse::Status::Complete((n, h))) => Some((n, h.code, h.version, h.info)),
                    _ => None,
                };
                prop_assert_eq!(
                    facts(parse_response(&buf, &mut memo)),
                    facts(parse_response(&buf, &mut fresh()))
                );
            }
        }

        #[test]
        fn word_scans_stop_at_the_first_byte_outside_the_range(
            b in prop::collection::vec(prop::sample::select(ALPHABET.to_vec()), 0..40),
        ) {
            let slow = b
                .iter()
                .position(|&c| !matches!(c, b'\t' | b' '..=b'~'))
                .unwrap_or(b.len());
            prop_assert_eq!(value_run(&b), slow);
            let slow = b
                .iter()
                .position(|&c| !matches!(c, b'!'..=b'~'))
                .unwrap_or(b.len());
            prop_assert_eq!(target_run(&b), slow);
            let slow = b
                .iter()
                .position(|&c| c == b':' || !matches!(c, b'!'..=b'~'))
                .unwrap_or(b.len());
            prop_assert_eq!(name_run(&b), slow);
        }
    }

    #[test]
    fn common_heads_are_read() {
        let r = request(b"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3 \r\n\r\nabc").unwrap();
        assert_eq!(
            (r.len, r.method, r.target, r.version),
            (48, &b"GET"[..], &b"/x"[..], 1)
        );
        assert!(r.info.has_host);
        assert_eq!(r.info.content_length, Some(3));
        let r = response(b"HTTP/1.0 204\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert_eq!((r.code, r.version), (204, 0));
        assert!(r.info.keep_alive);
    }

    /// A name with a printable byte that is not a token's is read past, as httparse drops it.
    #[test]
    fn names_that_are_not_tokens_are_read_past() {
        for head in [
            &b"GET / HTTP/1.1\r\nX(y): 1\r\nConnection: close\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nConnection\"@: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        ] {
            assert!(
                request(head).is_some() || response(head).is_some(),
                "{head:?}"
            );
            agrees(head);
        }
        let r = request(b"GET / HTTP/1.1\r\nConnection@: close\r\n\r\n").unwrap();
        assert!(!r.info.conn_close);
    }
}
