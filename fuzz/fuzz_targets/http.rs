//! Stream chunks fed to one HTTP connection: data, gaps and ends on both ends.
#![no_main]

use finscope::http::HttpConn;
use finscope::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut conn = HttpConn::new();
    let mut rest = data;
    let mut ts = 0i64;
    // Each op is a control byte: bit 0 the end; bit 7 clear: data, bits 1..=6 its length
    // (the bytes follow); bit 7 set: bit 1 clear is a gap (its length in the next byte, 0xFF
    // for u64::MAX), set is an end of stream.
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let end = usize::from(op & 1);
        ts += 1_000;
        if op & 0x80 == 0 {
            let n = usize::from((op >> 1) & 0x3F).min(rest.len());
            let (chunk, tail) = rest.split_at(n);
            conn.data(end, Timestamp(ts), chunk);
            rest = tail;
        } else if op & 2 == 0 {
            let len = match rest.split_first() {
                Some((&b, tail)) => {
                    rest = tail;
                    if b == 0xFF {
                        u64::MAX
                    } else {
                        u64::from(b)
                    }
                }
                None => 0,
            };
            conn.gap(end, len);
        } else {
            conn.end_of_stream(end, Timestamp(ts));
        }
    }
    let a = conn.summary(0);
    let b = conn.summary(1);
    assert_eq!(a.gaps, b.gaps);
});
