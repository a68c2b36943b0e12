//! The floor for issue 6: pcap-parser iterating a capture's records and nothing else.
//!
//! ```text
//! cargo run --release --example pcapfloor -- FILE
//! ```
//!
//! Opens a legacy pcap or pcapng file (not gzip, not standard input) with pcap-parser 0.17 the
//! way `src/capture/reader.rs` does: the same 1 MiB buffer, reads that fill it, refills on
//! `Incomplete`, growth (capped at 64 MiB) on `BufferTooSmall`, and a record cut off by the end
//! of the file counted as truncation, not as an error. It counts packets and captured bytes,
//! decodes nothing, and prints `key=value` lines:
//!
//! ```text
//! packets=2893180
//! captured_bytes=955735023
//! stream_bytes=1002025935
//! truncated=false
//! ```
//!
//! `finscope analyze` on the same file does everything this does plus decoding, TCP, HTTP and
//! the analysis, so the ratio of their CPU times is what issue 6's "within 2x of pcap-parser"
//! target measures.

use std::fs::File;
use std::io::{self, Read, Write};
use std::process::ExitCode;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

/// The same as finscope's reader (`src/capture/input.rs`).
const BUFFER_CAPACITY: usize = 1 << 20;
/// The same cap as finscope's reader: no record needs more, and it stops pcap-parser 0.17's
/// pcapng block length underflow from asking for 4 GiB.
const MAX_RECORD: usize = 64 << 20;

/// Loops `read()` until the buffer is full or the file ends. `create_reader` and `refill` call
/// `read()` once; a short read at open would leave too little to recognise the header, and a
/// short read later would only cost extra refills, but both are what finscope's reader avoids.
struct FullRead<R>(R);

impl<R: Read> Read for FullRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.0.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

/// One call of `next()`, detached from the reader's buffer.
enum Step {
    Block { len: usize, caplen: Option<usize> },
    End,
    Cut,
    NeedMore,
    TooSmall,
    Bad(String),
}

#[derive(Default)]
struct Counts {
    packets: u64,
    captured_bytes: u64,
    stream_bytes: u64,
    truncated: bool,
}

fn count(path: &str) -> Result<Counts, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut reader = create_reader(BUFFER_CAPACITY, FullRead(file))
        .map_err(|e| format!("not a pcap or pcapng file ({e:?})"))?;
    let mut capacity = BUFFER_CAPACITY;
    let mut counts = Counts::default();
    loop {
        if reader.data().is_empty() {
            // A clean end is checked here: pcap-parser says UnexpectedEof rather than Eof when
            // its buffer's read position is not at the start.
            if reader.reader_exhausted() {
                break;
            }
            reader.refill().map_err(|e| format!("read error ({e:?})"))?;
            continue;
        }
        // Detach the outcome from the buffer the block borrows before touching the reader.
        let step = match reader.next() {
            Ok((len, block)) => {
                let caplen = match block {
                    PcapBlockOwned::Legacy(b) => Some(b.data.len()),
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => Some(epb.packet_data().len()),
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => Some(spb.packet_data().len()),
                    _ => None,
                };
                Step::Block { len, caplen }
            }
            Err(PcapError::Eof) => Step::End,
            Err(PcapError::UnexpectedEof) => Step::Cut,
            Err(PcapError::Incomplete(_)) => Step::NeedMore,
            Err(PcapError::BufferTooSmall) => Step::TooSmall,
            Err(e) => Step::Bad(format!("{e:?}")),
        };
        match step {
            Step::Block { len, caplen } => {
                if let Some(caplen) = caplen {
                    counts.packets += 1;
                    counts.captured_bytes += caplen as u64;
                }
                reader.consume(len);
            }
            Step::End => break,
            Step::Cut => {
                counts.truncated = true;
                break;
            }
            // A full buffer that still needs more must grow, or refilling reads nothing forever.
            Step::NeedMore if reader.data().len() < capacity => {
                reader.refill().map_err(|e| format!("read error ({e:?})"))?
            }
            Step::NeedMore | Step::TooSmall => {
                capacity *= 4;
                if capacity > MAX_RECORD {
                    return Err(format!(
                        "record larger than 64 MiB at byte {}",
                        reader.consumed()
                    ));
                }
                reader.grow(capacity);
                reader.refill().map_err(|e| format!("read error ({e:?})"))?;
            }
            Step::Bad(detail) => {
                let at = reader.consumed();
                return Err(format!("record does not parse at byte {at} ({detail})"));
            }
        }
    }
    counts.stream_bytes = reader.consumed() as u64;
    Ok(counts)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: pcapfloor FILE    (a legacy pcap or pcapng file, not gzip)");
        return ExitCode::from(2);
    };
    match count(&path) {
        Ok(c) => {
            let mut o = io::stdout().lock();
            let written = writeln!(
                o,
                "packets={}\ncaptured_bytes={}\nstream_bytes={}\ntruncated={}",
                c.packets, c.captured_bytes, c.stream_bytes, c.truncated
            );
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(2),
            }
        }
        Err(e) => {
            eprintln!("pcapfloor: {path}: {e}");
            ExitCode::from(2)
        }
    }
}
