//! Byte-level recognisers that need no state: what a stream's first bytes are, where a request
//! or status line starts after the stream lost its place, and the header values we read.

/// A three-way answer for a prefix of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Yes,
    No,
    /// The bytes so far are a prefix of a match.
    NeedMore,
}

/// What a stream's first bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    Requests,
    Responses,
    Tls,
    Http2,
    Other,
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";
const KNOWN_METHODS: [&[u8]; 9] = [
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE",
];
/// Longest method token accepted when classifying a stream (WebDAV's are shorter).
const METHOD_MAX: usize = 32;

/// Classifies a stream from its first bytes; `None` until the bytes decide.
pub(super) fn classify(buf: &[u8]) -> Option<Class> {
    if buf.first() == Some(&0x16) {
        // A TLS record: content type handshake (22), version 3.x with x <= 4.
        return match buf {
            [_] | [_, 0x03] => None,
            [_, 0x03, minor, ..] if *minor <= 0x04 => Some(Class::Tls),
            _ => Some(Class::Other),
        };
    }
    let h2 = prefix(buf, H2_PREFACE);
    let resp = prefix(buf, b"HTTP/1.");
    // The two prefixes exclude each other: either deciding spares the request line's scan.
    if h2 == Verdict::Yes {
        return Some(Class::Http2);
    }
    if resp == Verdict::Yes {
        return Some(Class::Responses);
    }
    let req = request_line(buf, true);
    if req == Verdict::Yes {
        Some(Class::Requests)
    } else if [h2, resp, req].contains(&Verdict::NeedMore) {
        None
    } else {
        Some(Class::Other)
    }
}

/// Whether `buf` starts with `pat`.
fn prefix(buf: &[u8], pat: &[u8]) -> Verdict {
    if buf.starts_with(pat) {
        Verdict::Yes
    } else if pat.starts_with(buf) {
        Verdict::NeedMore
    } else {
        Verdict::No
    }
}

/// RFC 9110 `tchar`, by table, for a request line's method.
#[inline]
fn is_tchar(b: u8) -> bool {
    static TCHAR: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = (i as u8).is_ascii_alphanumeric();
            i += 1;
        }
        let extra = b"!#$%&'*+-.^_`|~";
        let mut j = 0;
        while j < extra.len() {
            t[extra[j] as usize] = true;
            j += 1;
        }
        t
    };
    TCHAR[usize::from(b)]
}

/// Whether `buf` starts with `METHOD SP target SP HTTP/1.x` and a line end. With `any_method`
/// any token is a method; otherwise only the nine of RFC 9110 and 5789 are.
pub(super) fn request_line(buf: &[u8], any_method: bool) -> Verdict {
    let n = buf
        .iter()
        .take(METHOD_MAX + 1)
        .take_while(|&&b| is_tchar(b))
        .count();
    let method = &buf[..n];
    let known = |m: &[u8]| KNOWN_METHODS.contains(&m);
    if n == buf.len() {
        let could_be =
            n <= METHOD_MAX && (any_method || KNOWN_METHODS.iter().any(|k| k.starts_with(method)));
        return if could_be {
            Verdict::NeedMore
        } else {
            Verdict::No
        };
    }
    if n == 0 || n > METHOD_MAX || buf[n] != b' ' || !(any_method || known(method)) {
        return Verdict::No;
    }
    let mut i = n;
    while i < buf.len() && buf[i] == b' ' {
        i += 1;
    }
    let target = i;
    while i < buf.len() && buf[i] > b' ' && buf[i] != 0x7f {
        i += 1;
    }
    if i == buf.len() {
        return Verdict::NeedMore;
    }
    if i == target || buf[i] != b' ' {
        return Verdict::No;
    }
    while i < buf.len() && buf[i] == b' ' {
        i += 1;
    }
    version_then(&buf[i..], |b| b == b'\r' || b == b'\n')
}

/// Whether `buf` starts with `HTTP/1.x NNN`.
pub(super) fn status_line(buf: &[u8]) -> Verdict {
    match version_then(buf, |b| b == b' ') {
        Verdict::Yes => {}
        other => return other,
    }
    let code = &buf[9..];
    if code.iter().take(3).any(|b| !b.is_ascii_digit()) {
        Verdict::No
    } else if code.len() < 3 {
        Verdict::NeedMore
    } else {
        Verdict::Yes
    }
}

/// Whether `buf` starts with `HTTP/1.` and a digit, followed by a byte `next` accepts.
fn version_then(buf: &[u8], next: impl Fn(u8) -> bool) -> Verdict {
    const V: &[u8] = b"HTTP/1.";
    for (j, &b) in buf.iter().take(V.len() + 2).enumerate() {
        let ok = match j {
            j if j < V.len() => b == V[j],
            7 => b.is_ascii_digit(),
            _ => next(b),
        };
        if !ok {
            return Verdict::No;
        }
    }
    if buf.len() < V.len() + 2 {
        Verdict::NeedMore
    } else {
        Verdict::Yes
    }
}

/// Which lines a stream that lost its place is looking for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Want {
    Requests,
    Responses,
    Either,
}

/// The result of looking for a place to start again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Resync {
    /// A request (`true`) or status line starts at this offset.
    Found(usize, bool),
    /// The line from this offset to the end may still become one.
    NeedMore(usize),
    NotFound,
}

/// Looks for a request line with a known method, or a status line, at a line start of `buf`.
/// `line_start` says whether `buf[0]` starts a line (after a newline or a gap).
pub(super) fn resync(buf: &[u8], line_start: bool, want: Want) -> Resync {
    let next_line = |from: usize| {
        buf[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| from + i + 1)
    };
    let mut cand = if line_start { Some(0) } else { next_line(0) };
    while let Some(p) = cand {
        let line = &buf[p..];
        let req = match want {
            Want::Requests | Want::Either => request_line(line, false),
            Want::Responses => Verdict::No,
        };
        let resp = match want {
            Want::Responses | Want::Either => status_line(line),
            Want::Requests => Verdict::No,
        };
        if req == Verdict::Yes {
            return Resync::Found(p, true);
        }
        if resp == Verdict::Yes {
            return Resync::Found(p, false);
        }
        if req == Verdict::NeedMore || resp == Verdict::NeedMore {
            return Resync::NeedMore(p);
        }
        cand = next_line(p);
    }
    Resync::NotFound
}

/// Comma-separated list items, trimmed of spaces and tabs, empty ones skipped.
fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|s| !s.is_empty())
}

fn trim(s: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().position(|b| !is_ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_ws(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

/// Whether a list-valued header (`Connection`) contains `token`, case-insensitively.
#[cfg(test)]
pub(super) fn has_token(value: &[u8], token: &[u8]) -> bool {
    list_items(value).any(|t| t.eq_ignore_ascii_case(token))
}

/// Whether a `Connection` value holds the token `close`, and `keep-alive`, in one pass.
pub(super) fn close_and_keep_alive(value: &[u8]) -> (bool, bool) {
    let (mut close, mut keep_alive) = (false, false);
    for t in list_items(value) {
        close |= t.eq_ignore_ascii_case(b"close");
        keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
    }
    (close, keep_alive)
}

/// Whether header name `name`, of bytes in `'!'..='~'`, is `lower` (lowercase letters and `-`)
/// in any case, eight bytes at a time: setting bit 5 folds an uppercase letter to its
/// lowercase, and no byte of that range other than a letter or `-` folds to a letter or `-`
/// (only CR, outside it, folds to `-`).
#[inline]
pub(super) fn name_is(name: &[u8], lower: &[u8]) -> bool {
    const FOLD: u64 = u64::from_le_bytes([0x20; 8]);
    fn word(b: &[u8]) -> u64 {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(w) | FOLD
    }
    name.len() == lower.len()
        && name
            .chunks(8)
            .zip(lower.chunks(8))
            .all(|(n, l)| word(n) == word(l))
}

/// Whether the last transfer coding of a `Transfer-Encoding` value is `chunked`.
pub(super) fn last_is_chunked(value: &[u8]) -> bool {
    list_items(value)
        .last()
        .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"))
}

/// A decimal number of at most 19 digits (always fits in a u64).
pub(super) fn decimal(s: &[u8]) -> Option<u64> {
    let s = trim(s);
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// `timeout=N` from a `Keep-Alive` header value (`timeout=5, max=100`).
pub(super) fn keep_alive_timeout(value: &[u8]) -> Option<u32> {
    list_items(value).find_map(|item| {
        let eq = item.iter().position(|&b| b == b'=')?;
        let (name, v) = (trim(&item[..eq]), &item[eq + 1..]);
        if !name.eq_ignore_ascii_case(b"timeout") {
            return None;
        }
        let v = trim(v);
        let v = v.strip_prefix(b"\"").unwrap_or(v);
        let v = v.strip_suffix(b"\"").unwrap_or(v);
        decimal(v).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    })
}
