//! One frame: the first two bytes pick a supported link type, the rest is the frame.
#![no_main]

use finscope::decode::{decode, linktype};
use libfuzzer_sys::fuzz_target;

const LINKTYPES: [u16; 11] = [
    linktype::NULL,
    linktype::ETHERNET,
    linktype::DLT_RAW,
    linktype::DLT_RAW_OPENBSD,
    linktype::RAW,
    linktype::LOOP,
    linktype::LINUX_SLL,
    linktype::IPV4,
    linktype::IPV6,
    linktype::LINUX_SLL2,
    // Not supported: must be skipped, never decoded.
    147,
];

fuzz_target!(|data: &[u8]| {
    let Some((pick, frame)) = data.split_first_chunk::<2>() else {
        return;
    };
    let lt = LINKTYPES[usize::from(u16::from_le_bytes(*pick)) % LINKTYPES.len()];
    if let Ok(seg) = decode(lt, frame) {
        // The payload borrows the frame and never claims more than the IP lengths say.
        assert!(seg.payload.len() <= frame.len());
        assert!(seg.payload.len() as u64 <= u64::from(seg.payload_len));
        let start = seg.payload.as_ptr() as usize;
        let base = frame.as_ptr() as usize;
        assert!(
            seg.payload.is_empty()
                || (start >= base && start + seg.payload.len() <= base + frame.len())
        );
    }
});
