//! Arbitrary bytes as a capture file: the reader, then the decoder on every frame it yields.
#![no_main]

use std::io::Cursor;
use std::ops::ControlFlow;

use finscope::capture::{CaptureReader, Frame, FrameSink};
use libfuzzer_sys::fuzz_target;

struct Decode {
    frames: u64,
}

impl FrameSink for Decode {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        self.frames += 1;
        if let Ok(seg) = finscope::decode::decode(frame.linktype, frame.data) {
            assert!(seg.payload.len() <= frame.data.len());
            assert!(seg.payload.len() as u64 <= u64::from(seg.payload_len));
        }
        ControlFlow::Continue(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::from_read("fuzz", Cursor::new(data.to_vec())) else {
        return;
    };
    let mut sink = Decode { frames: 0 };
    let outcome = reader.run(&mut sink);
    let info = reader.info();
    if outcome.is_ok() {
        assert_eq!(info.packets, sink.frames);
    }
    assert!(info.stream_bytes <= 64 * data.len() as u64 + 1024 * 1024);
});
