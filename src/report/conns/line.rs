//! [`Line`]: where `conns` records are put together before they go to the writer, and the
//! pieces records are made of: numbers, times, names, escaped strings, CSV cells. Everything
//! here writes exactly what serde_json (for JSON) or `Display` and `format!` (for CSV) would.

use std::io::{self, Write};
use std::net::IpAddr;

use crate::net::Endpoint;
use crate::report::secs;
use crate::time::{Duration, Timestamp};

/// Bytes a one-off [`Line`] gathers before handing them on: more than most records.
pub(super) const LINE_BUF: usize = 2048;

/// Where records are put together before they go to the writer, and the pieces records are
/// made of. Pieces gather in a buffer, so each costs a copy rather than a call into the
/// writer; the buffer goes out when full and when finished. A [`super::RecordWriter`] keeps
/// one `Line` for all its records, so a record is written once, straight into the buffer
/// that goes out. Writing into it cannot fail: the writer's first error is kept, nothing more
/// is written after it, and [`Line::take_error`] or [`Line::finish`] returns it.
pub(super) struct Line<W: Write, const N: usize = LINE_BUF> {
    out: W,
    buf: Box<[u8; N]>,
    len: usize,
    error: Option<io::Error>,
    /// The writer failed: nothing more goes to it.
    failed: bool,
    /// The whole seconds of the last time written, and their digits: a record's times, and
    /// the next record's, nearly all fall in the same second, so they are formatted once.
    last_secs: Option<(u64, [u8; 20], u8)>,
}

impl<W: Write, const N: usize> Line<W, N> {
    /// `N`, the buffer's size, is at least [`LINE_BUF`], which pieces written by hand may
    /// take at once.
    pub(super) fn new(out: W) -> Self {
        const { assert!(N >= LINE_BUF) };
        Line {
            out,
            buf: Box::new([0; N]),
            len: 0,
            error: None,
            failed: false,
            last_secs: None,
        }
    }

    #[inline]
    pub(super) fn put(&mut self, bytes: &[u8]) {
        if bytes.len() <= N - self.len {
            self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            self.put_long(bytes);
        }
    }

    #[inline]
    pub(super) fn byte(&mut self, b: u8) {
        if self.len == N {
            self.flush();
        }
        self.buf[self.len] = b;
        self.len += 1;
    }

    #[cold]
    fn put_long(&mut self, bytes: &[u8]) {
        self.flush();
        if bytes.len() <= N {
            self.put(bytes);
        } else if !self.failed {
            if let Err(e) = self.out.write_all(bytes) {
                self.fail(e);
            }
        }
    }

    /// The next `n` bytes of the line (`n` at most [`LINE_BUF`]), for the caller to fill.
    #[inline]
    fn room(&mut self, n: usize) -> &mut [u8] {
        if n > N - self.len {
            self.flush();
        }
        let start = self.len;
        self.len += n;
        &mut self.buf[start..self.len]
    }

    fn flush(&mut self) {
        if !self.failed {
            if let Err(e) = self.out.write_all(&self.buf[..self.len]) {
                self.fail(e);
            }
        }
        self.len = 0;
    }

    fn fail(&mut self, e: io::Error) {
        self.failed = true;
        self.error.get_or_insert(e);
    }

    /// The writer's first error, once; later pieces are dropped.
    pub(super) fn take_error(&mut self) -> io::Result<()> {
        self.error.take().map_or(Ok(()), Err)
    }

    /// Hands what is buffered to the writer; the first error on the way, if it was not
    /// taken yet.
    pub(super) fn finish(&mut self) -> io::Result<()> {
        self.flush();
        self.take_error()
    }

    /// [`Line::finish`], then the writer's own flush.
    pub(super) fn finish_and_flush(&mut self) -> io::Result<()> {
        self.finish()?;
        if self.failed {
            return Ok(());
        }
        self.out.flush().inspect_err(|_| self.failed = true)
    }
}

/// For the rare pieces formatted by `core::fmt` or serde_json (IPv6 addresses, floats off the
/// fast paths).
impl<W: Write, const N: usize> Write for Line<W, N> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.put(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write, const N: usize> Line<W, N> {
    /// A name finscope itself chose (an enum's `as_str`), quoted: none of them needs escaping
    /// (the tests render every one).
    pub(super) fn name(&mut self, s: &'static str) {
        debug_assert!(s.bytes().all(|b| ESCAPE[usize::from(b)] == 0), "{s:?}");
        self.byte(b'"');
        self.put(s.as_bytes());
        self.byte(b'"');
    }

    pub(super) fn opt_name(&mut self, s: Option<&'static str>) {
        match s {
            Some(s) => self.name(s),
            None => self.put(b"null"),
        }
    }

    pub(super) fn opt_u32(&mut self, n: Option<u32>) {
        match n {
            Some(n) => self.u64(n.into()),
            None => self.put(b"null"),
        }
    }

    /// A time as the JSON carries it: seconds, to the microsecond.
    pub(super) fn secs(&mut self, t: Timestamp) {
        // A whole number of microseconds (as pcap timestamps are) from 10 µs to 2^51 µs (the
        // year 2041): `secs` rounds its float to exactly those microseconds (below 2^51 its
        // two float roundings stay under half a microsecond), and `fixed` would print their
        // digits, so they are printed from the integer, without float arithmetic.
        let n = t.0;
        if n % 1000 == 0 && (10_000..2_251_799_813_685_248_000).contains(&n) {
            let micros = n as u64 / 1000;
            self.whole_secs(micros / 1_000_000);
            self.fraction::<6>(micros % 1_000_000);
        } else {
            // 2^-20 between neighbouring floats below 2^33 s (the year 2242): finer than 1 µs.
            self.fixed::<6>(secs(t), 8_589_934_592.0);
        }
    }

    pub(super) fn opt_secs(&mut self, t: Option<Timestamp>) {
        match t {
            Some(t) => self.secs(t),
            None => self.put(b"null"),
        }
    }

    /// A duration as the JSON carries it: milliseconds, to the microsecond.
    pub(super) fn millis(&mut self, d: Duration) {
        // As in `millis_3`: away from a tie and below 1e14 ns, the float rounds to the
        // integer's microseconds; `fixed` would print their digits.
        let n = d.0;
        if (1_000..100_000_000_000_000).contains(&n) && n % 1000 != 500 {
            self.decimal::<3>((n as u64 + 500) / 1000);
            return;
        }
        // 2^-10 between neighbouring floats below 2^43 ms: finer than 0.001.
        let ms = (d.as_millis_f64() * 1000.0).round() / 1000.0;
        self.fixed::<3>(ms, 8_796_093_022_208.0);
    }

    /// `v` exactly as serde_json writes it, quickly when `v` is the float nearest to a whole
    /// number of `10^-DIGITS` and neighbouring floats are less than `10^-DIGITS` apart (below
    /// `limit`). Then that decimal is the only one of its length or shorter that reads back
    /// as `v`, so it is the shortest round-trip form serde_json prints: the digits with
    /// trailing zeros dropped (`1.5`, `2.0`), in plain notation from 1e-5 up.
    fn fixed<const DIGITS: u32>(&mut self, v: f64, limit: f64) {
        let scale = const { 10u64.pow(DIGITS) };
        let units = (v * scale as f64).round();
        if units >= 1.0 && (1e-5..limit).contains(&v) && units / scale as f64 == v {
            // Below 2^53, so `units` is a whole number held exactly.
            self.decimal::<DIGITS>(units as u64);
        } else if let Err(e) = serde_json::to_writer(&mut *self, &v) {
            self.fail(e.into());
        }
    }

    /// `units / 10^DIGITS` with at least one decimal and no trailing zeros after it (`1.5`,
    /// `2.0`): the way serde_json prints such a float.
    fn decimal<const DIGITS: u32>(&mut self, units: u64) {
        let scale = const { 10u64.pow(DIGITS) };
        self.u64(units / scale);
        self.fraction::<DIGITS>(units % scale);
    }

    /// `whole` as [`u64`](Self::u64) writes it, from the digits of the last time when it is
    /// the same second.
    fn whole_secs(&mut self, whole: u64) {
        let (digits, len) = match self.last_secs {
            Some((last, digits, len)) if last == whole => (digits, len),
            _ => {
                let len = whole.checked_ilog10().unwrap_or(0) as usize + 1;
                let mut digits = [0; 20];
                fill_digits(&mut digits[..len], whole);
                self.last_secs = Some((whole, digits, len as u8));
                (digits, len as u8)
            }
        };
        self.put_prefix(&digits, len);
    }

    /// The first `len` bytes of `bytes`: all of them are copied (a copy of a known size, not a
    /// call), then the rest given back.
    #[inline]
    fn put_prefix<const K: usize>(&mut self, bytes: &[u8; K], len: u8) {
        self.room(K).copy_from_slice(bytes);
        self.len -= K - usize::from(len);
    }

    /// `.` and the `DIGITS`-digit fraction `frac`, without its trailing zeros (one digit at
    /// least), as serde_json prints the float.
    fn fraction<const DIGITS: u32>(&mut self, frac: u64) {
        self.put(b".");
        let (mut frac, mut width) = (frac, DIGITS as usize);
        while frac % 10 == 0 && width > 1 {
            frac /= 10;
            width -= 1;
        }
        fill_digits(self.room(width), frac);
    }

    /// A JSON string from packet bytes, quoted and escaped as serde_json does.
    pub(super) fn json_str(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let bytes = s.as_bytes();
        self.put(b"\"");
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let esc = ESCAPE[usize::from(b)];
            if esc == 0 {
                continue;
            }
            self.put(&bytes[start..i]);
            if esc == b'u' {
                self.put(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ]);
            } else {
                self.put(&[b'\\', esc]);
            }
            start = i + 1;
        }
        self.put(&bytes[start..]);
        self.put(b"\"");
    }

    /// `n` in decimal.
    #[inline(always)]
    pub(super) fn u64(&mut self, n: u64) {
        if n < 10 {
            // Most counts are 0 or 1.
            self.byte(b'0' + n as u8);
        } else {
            self.u64_digits(n);
        }
    }

    #[inline(never)]
    fn u64_digits(&mut self, n: u64) {
        if n < 100 {
            let pair = n as usize * 2;
            self.room(2).copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
            return;
        }
        let digits = n.checked_ilog10().unwrap_or(0) as usize + 1;
        fill_digits(self.room(digits), n);
    }

    pub(super) fn i64(&mut self, n: i64) {
        if n < 0 {
            self.put(b"-");
        }
        self.u64(n.unsigned_abs());
    }

    /// `ip:port`, IPv6 as `[addr]:port`: the `Display` of [`Endpoint`], IPv4 done by hand.
    pub(super) fn endpoint(&mut self, e: Endpoint) {
        match e.ip {
            IpAddr::V4(a) => {
                for (i, octet) in a.octets().into_iter().enumerate() {
                    if i > 0 {
                        self.byte(b'.');
                    }
                    let [d0, d1, d2, len] = OCTETS[usize::from(octet)];
                    self.put_prefix(&[d0, d1, d2], len);
                }
                self.byte(b':');
                self.u64(e.port.into());
            }
            IpAddr::V6(_) => {
                if let Err(err) = write!(self, "{e}") {
                    self.fail(err);
                }
            }
        }
    }

    /// `seconds.microseconds`: the `Display` of [`Timestamp`].
    pub(super) fn timestamp(&mut self, t: Timestamp) {
        let micros = t.0.rem_euclid(Timestamp::NANOS_PER_SEC) / 1000;
        self.i64(t.0.div_euclid(Timestamp::NANOS_PER_SEC));
        self.put(b".");
        fill_digits(self.room(6), micros.unsigned_abs());
    }

    /// A duration in milliseconds with three decimals, as `format!("{:.3}", d.as_millis_f64())`.
    pub(super) fn millis_3(&mut self, d: Duration) {
        // Below 1e14 ns the float is within 1e-8 ms of the exact value, far closer than the
        // 1e-6 ms from a whole nanosecond to a rounding boundary, so rounding the integer
        // gives the same digits; exact ties (…500 ns) are left to the float formatter.
        let n = d.0;
        if (0..100_000_000_000_000).contains(&n) && n % 1000 != 500 {
            let micros = (n as u64 + 500) / 1000;
            self.u64(micros / 1000);
            self.put(b".");
            fill_digits(self.room(3), micros % 1000);
        } else if let Err(e) = write!(self, "{:.3}", d.as_millis_f64()) {
            self.fail(e);
        }
    }

    /// A CSV cell made of `parts`: quoted when it holds a comma, quote or line break; a
    /// leading `=`, `+`, `-` or `@` is prefixed with `'` so spreadsheets do not run it as a
    /// formula.
    pub(super) fn cell(&mut self, parts: &[&str]) {
        let special = |b: &u8| matches!(b, b',' | b'"' | b'\n' | b'\r');
        let quoted = parts.iter().any(|p| p.as_bytes().iter().any(special));
        let formula = parts
            .iter()
            .find(|p| !p.is_empty())
            .is_some_and(|p| p.starts_with(['=', '+', '-', '@']));
        if quoted {
            self.put(b"\"");
        }
        if formula {
            self.put(b"'");
        }
        for p in parts {
            if quoted {
                for (i, chunk) in p.split('"').enumerate() {
                    if i > 0 {
                        self.put(b"\"\"");
                    }
                    self.put(chunk.as_bytes());
                }
            } else {
                self.put(p.as_bytes());
            }
        }
        if quoted {
            self.put(b"\"");
        }
    }
}

/// What serde_json writes for each byte of a string: 0 for the byte itself, else the letter
/// after the backslash (`u` for `\u00XX`).
pub(super) static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// `00`, `01`, ... `99`.
/// The decimal digits of each byte value, and how many there are.
static OCTETS: [[u8; 4]; 256] = {
    let mut t = [[0; 4]; 256];
    let mut i = 0;
    while i < 256 {
        let n = i as u8;
        t[i] = if n >= 100 {
            [b'0' + n / 100, b'0' + n / 10 % 10, b'0' + n % 10, 3]
        } else if n >= 10 {
            [b'0' + n / 10, b'0' + n % 10, 0, 2]
        } else {
            [b'0' + n, 0, 0, 1]
        };
        i += 1;
    }
    t
};

static DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Fills `dst` with the last `dst.len()` decimal digits of `n`, zero-padded.
fn fill_digits(dst: &mut [u8], mut n: u64) {
    let mut end = dst.len();
    // 32-bit division is cheaper; most numbers here fit.
    while n > u64::from(u32::MAX) && end >= 2 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        dst[end - 2..end].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        end -= 2;
    }
    let mut n = n as u32;
    while end >= 2 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        dst[end - 2..end].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        end -= 2;
    }
    if end == 1 {
        dst[0] = b'0' + (n % 10) as u8;
    }
}
