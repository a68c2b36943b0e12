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
//!
//! With `--fins` it also does the least a tool that says who closed each connection must do,
//! the Rust form of issue 6's "Python dpkt loop counting FINs per 4-tuple": for Ethernet, IPv4
//! and TCP frames of a legacy pcap file (others are counted as skipped), it reads the TCP ports
//! and flags and keeps, per 4-tuple in a hash table, which end sent a FIN first and whether a
//! RST came. It tells no connection on a reused 4-tuple from the one before, looks at no
//! sequence number, payload, HTTP or time, and lets go of nothing: a small part of what
//! `analyze` does. So its CPU time is about the least that saying who closed each connection
//! costs when the records come through pcap-parser. It prints these lines besides (here for
//! the real 1.8 GB nginx capture of `docs/performance.md`):
//!
//! ```text
//! tcp_segments=8932377
//! skipped=0
//! tuples=28232
//! lo_fin_first=3050
//! hi_fin_first=25182
//! with_rst=32
//! ```
//!
//! With `--lean` it gives the four answers themselves, for each connection, with a design made
//! for speed first (`lean.rs`): 32 bytes of facts per connection, kept in the hash table's
//! slot for its 4-tuple, a connection on a reused 4-tuple taking over the slot, and each
//! connection folded into totals, per server endpoint counts and a TIME-WAIT count per second
//! when it ends. It prints the totals `analyze` reports under the same names (and
//! `bench/lean_check.py` compares them), so that its time is a lower bound for a finscope that
//! did only this. `--heads` adds each HTTP head, parsed by httparse. `--boxed` does the same
//! work with the facts in a box the size of finscope's connection, and `--split [--early]`
//! with the facts in the slot and the rest of such a box beside them, read when the
//! connection goes (or, with `--early`, when its close completes), to measure what those
//! layouts cost.
//!
//! With `--direct` (Linux, legacy pcap) the file is read as `finscope --direct-io` reads it:
//! with direct I/O (`O_DIRECT`, past the page cache and without the kernel's copy) in aligned
//! 1 MiB blocks, each record parsed in place by pcap-parser's frame parser, a record cut by a
//! block's end moved in front of the next block. The floor for `--direct-io`, whose CPU time
//! has no copy of the file in it.

use std::fs::File;
use std::io::{self, Read, Write};
use std::process::ExitCode;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

mod lean;

use lean::{Boxed, Conn, Lean, Segment, Slot, Split};

/// What `--fins` keeps per 4-tuple.
#[derive(Default)]
struct Tuple {
    /// Bit 0: the key's low end sent a FIN; bit 1: the high end; bit 2: the low end's came
    /// first; bit 3: a RST was seen.
    bits: u8,
}

/// The `--fins` count: 4-tuples, each as its two ends' (address, port) words in order.
#[derive(Default)]
struct Fins {
    tuples: std::collections::HashMap<(u64, u64), Tuple, foldhash::fast::RandomState>,
}

impl Tcp for Fins {
    fn segment(&mut self, _ts: (u32, u32), s: &Segment) {
        let (key, from_lo) = if s.src <= s.dst {
            ((s.src, s.dst), true)
        } else {
            ((s.dst, s.src), false)
        };
        let t = self.tuples.entry(key).or_default();
        if s.flags & 0x01 != 0 {
            let mine = if from_lo { 1 } else { 2 };
            if t.bits & 3 == 0 && from_lo {
                t.bits |= 4;
            }
            t.bits |= mine;
        }
        if s.flags & 0x04 != 0 {
            t.bits |= 8;
        }
    }

    fn finish(&mut self, o: &mut dyn Write) -> io::Result<()> {
        let count = |f: fn(u8) -> bool| self.tuples.values().filter(|t| f(t.bits)).count();
        writeln!(
            o,
            "tuples={}\nlo_fin_first={}\nhi_fin_first={}\nwith_rst={}",
            self.tuples.len(),
            count(|b| b & 4 != 0),
            count(|b| b & 3 != 0 && b & 4 == 0),
            count(|b| b & 8 != 0),
        )
    }
}

/// What `--fins` and `--lean` do with the TCP segments of Ethernet/IPv4 frames.
trait Tcp {
    fn segment(&mut self, ts: (u32, u32), s: &Segment);
    /// Prints the `key=value` lines after the counts.
    fn finish(&mut self, o: &mut dyn Write) -> io::Result<()>;
}

impl<S: Slot> Tcp for Lean<S> {
    fn segment(&mut self, ts: (u32, u32), s: &Segment) {
        Lean::segment(self, ts, s);
    }
    fn finish(&mut self, o: &mut dyn Write) -> io::Result<()> {
        Lean::finish(self, o)
    }
}

/// Hands a [`Tcp`] the segments of a legacy pcap file's Ethernet/IPv4/TCP frames and counts
/// the others as skipped.
struct Ethernet<T> {
    tcp: T,
    /// The legacy file's link type is Ethernet.
    ethernet: bool,
    segments: u64,
    skipped: u64,
}

impl<T: Tcp> Ethernet<T> {
    fn new(tcp: T) -> Self {
        Ethernet {
            tcp,
            ethernet: false,
            segments: 0,
            skipped: 0,
        }
    }
}

impl<T: Tcp> Packets for Ethernet<T> {
    fn link_type(&mut self, linktype: i32) {
        self.ethernet = linktype == 1;
    }
    fn legacy(&mut self, ts: (u32, u32), data: &[u8]) {
        match ipv4_tcp(data).filter(|_| self.ethernet) {
            Some(s) => {
                self.segments += 1;
                self.tcp.segment(ts, &s);
            }
            None => self.skipped += 1,
        }
    }
    /// `--fins` and `--lean` read legacy pcap only.
    fn pcapng(&mut self) {
        self.skipped += 1;
    }
    fn finish(&mut self, o: &mut dyn Write) -> io::Result<()> {
        writeln!(
            o,
            "tcp_segments={}\nskipped={}",
            self.segments, self.skipped
        )?;
        self.tcp.finish(o)
    }
}

/// The TCP segment of an Ethernet/IPv4 frame without IP fragmentation (each end's address
/// and port as one word); `None` for anything else.
fn ipv4_tcp(f: &[u8]) -> Option<Segment<'_>> {
    let ip = f.get(14..)?;
    if f.get(12..14)? != [0x08, 0x00] || ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 6 {
        return None;
    }
    if u16::from_be_bytes([ip[6], ip[7]]) & 0x3FFF != 0 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
    let tcp = ip.get(usize::from(ip[0] & 0x0F) * 4..total)?;
    let word = |addr: &[u8], port: &[u8]| {
        u64::from(u32::from_be_bytes([addr[0], addr[1], addr[2], addr[3]])) << 16
            | u64::from(u16::from_be_bytes([port[0], port[1]]))
    };
    let seq_ack = tcp.get(4..12)?;
    Some(Segment {
        src: word(&ip[12..16], &tcp[0..2]),
        dst: word(&ip[16..20], &tcp[2..4]),
        flags: *tcp.get(13)?,
        seq: u32::from_be_bytes([seq_ack[0], seq_ack[1], seq_ack[2], seq_ack[3]]),
        ack: u32::from_be_bytes([seq_ack[4], seq_ack[5], seq_ack[6], seq_ack[7]]),
        payload: tcp.get(usize::from(tcp[12] >> 4) * 4..)?,
    })
}

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

/// What is done with each packet besides counting it: nothing for the floor (`()`, whose calls
/// compile to nothing, so the floor runs the same code as before `--fins` existed), or what
/// [`Ethernet`] hands to `--fins` or `--lean`.
trait Packets {
    fn link_type(&mut self, _linktype: i32) {}
    fn legacy(&mut self, _ts: (u32, u32), _data: &[u8]) {}
    fn pcapng(&mut self) {}
    fn finish(&mut self, _o: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

impl Packets for () {}

fn count(path: &str, packets: &mut impl Packets) -> Result<Counts, String> {
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
                    PcapBlockOwned::Legacy(b) => {
                        packets.legacy((b.ts_sec, b.ts_usec), b.data);
                        Some(b.data.len())
                    }
                    PcapBlockOwned::LegacyHeader(h) => {
                        packets.link_type(h.network.0);
                        None
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        packets.pcapng();
                        Some(epb.packet_data().len())
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        packets.pcapng();
                        Some(spb.packet_data().len())
                    }
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

/// Room in front of each block for the unread end of the block before (a record it cut):
/// tcpdump's largest snaplen and a record header, rounded to the alignment.
#[cfg(target_os = "linux")]
const DIRECT_ROOM: usize = (256 << 10) + 4096;
/// Direct I/O's alignment of memory, length and file offset.
#[cfg(target_os = "linux")]
const DIRECT_ALIGN: usize = 4096;

/// `--direct`: see the module docs. Legacy pcap in either byte order, not the modified format.
#[cfg(target_os = "linux")]
fn count_direct(path: &str, packets: &mut impl Packets) -> Result<Counts, String> {
    use pcap_parser::pcap::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header};
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(path)
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; DIRECT_ALIGN + DIRECT_ROOM + BUFFER_CAPACITY];
    // Blocks go to `base`, an aligned address with the room in front of it.
    let base = (DIRECT_ALIGN - buf.as_ptr().addr() % DIRECT_ALIGN) % DIRECT_ALIGN + DIRECT_ROOM;
    let mut counts = Counts::default();
    let (mut offset, mut start, mut end) = (0u64, base, base);
    let mut big_endian = None;
    loop {
        let tail = end - start;
        if tail > DIRECT_ROOM {
            return Err(format!(
                "record larger than 256 KiB at byte {}",
                offset - tail as u64
            ));
        }
        buf.copy_within(start..end, base - tail);
        // Whole aligned blocks, in order: reads with direct I/O come short only at the end.
        let n = FullRead(&file)
            .read(&mut buf[base..base + BUFFER_CAPACITY])
            .map_err(|e| format!("read error ({e})"))?;
        offset += n as u64;
        (start, end) = (base - tail, base + n);
        let be = match big_endian {
            Some(be) => be,
            None => {
                let (rest, h) = parse_pcap_header(&buf[start..end])
                    .map_err(|_| "not a legacy pcap file".to_string())?;
                if h.is_modified_format() {
                    return Err("--direct reads standard legacy pcap only".into());
                }
                packets.link_type(h.network.0);
                start = end - rest.len();
                *big_endian.insert(h.is_bigendian())
            }
        };
        loop {
            let parsed = if be {
                parse_pcap_frame_be(&buf[start..end])
            } else {
                parse_pcap_frame(&buf[start..end])
            };
            match parsed {
                Ok((rest, block)) => {
                    packets.legacy((block.ts_sec, block.ts_usec), block.data);
                    counts.packets += 1;
                    counts.captured_bytes += block.data.len() as u64;
                    start = end - rest.len();
                }
                Err(e) if e.is_incomplete() => break,
                Err(e) => {
                    let at = offset - (end - start) as u64;
                    return Err(format!("record does not parse at byte {at} ({e:?})"));
                }
            }
        }
        if n < BUFFER_CAPACITY {
            counts.truncated = start < end;
            counts.stream_bytes = offset - (end - start) as u64;
            return Ok(counts);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn count_direct(_path: &str, _packets: &mut impl Packets) -> Result<Counts, String> {
    Err("--direct needs Linux's O_DIRECT".into())
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut flag = |name: &str| match args.iter().position(|a| a == name) {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    };
    let (fins, lean, boxed, split, early, heads, direct) = (
        flag("--fins"),
        flag("--lean"),
        flag("--boxed"),
        flag("--split"),
        flag("--early"),
        flag("--heads"),
        flag("--direct"),
    );
    let [path] = &args[..] else {
        eprintln!(
            "usage: pcapfloor [--fins | --lean [--boxed | --split [--early]] [--heads]] [--direct] FILE    (a legacy pcap or pcapng file, not gzip; --direct: legacy pcap)"
        );
        return ExitCode::from(2);
    };
    if (fins && lean)
        || (!lean && (boxed || split || heads))
        || (boxed && split)
        || (early && !split)
    {
        eprintln!(
            "pcapfloor: --fins and --lean go alone; --boxed, --split and --heads go with --lean, not --boxed with --split; --early goes with --split"
        );
        return ExitCode::from(2);
    }
    // Each kind of count is its own monomorphised loop, so the floor's has no calls in it.
    if fins {
        run(path, direct, Ethernet::new(Fins::default()))
    } else if !lean {
        run(path, direct, ())
    } else if boxed {
        run(
            path,
            direct,
            Ethernet::new(Lean::<Boxed>::new(heads, early)),
        )
    } else if split {
        run(
            path,
            direct,
            Ethernet::new(Lean::<Split>::new(heads, early)),
        )
    } else {
        run(path, direct, Ethernet::new(Lean::<Conn>::new(heads, early)))
    }
}

fn run(path: &str, direct: bool, mut packets: impl Packets) -> ExitCode {
    let counted = if direct {
        count_direct(path, &mut packets)
    } else {
        count(path, &mut packets)
    };
    match counted {
        Ok(c) => {
            let mut o = io::stdout().lock();
            let written = writeln!(
                o,
                "packets={}\ncaptured_bytes={}\nstream_bytes={}\ntruncated={}",
                c.packets, c.captured_bytes, c.stream_bytes, c.truncated
            )
            .and_then(|()| packets.finish(&mut o));
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
