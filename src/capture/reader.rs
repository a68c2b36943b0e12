use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::Arc;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError};

use super::input::{self, InputState, BUFFER_CAPACITY};
use super::pcapng::Interface;
use super::{CaptureError, CaptureInfo, Format, Frame, FrameSink};
use crate::time::Timestamp;

/// No record may need a buffer larger than this. It also stops pcap-parser 0.17's block length
/// underflow from turning into a 4 GiB allocation.
const MAX_RECORD: usize = 64 << 20;
const PCAPNG_SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const PCAPNG_EPB: u32 = 6;

/// Streams one capture (file, gzip file, or standard input) through a fixed-size buffer.
pub struct CaptureReader {
    info: CaptureInfo,
    reader: Box<dyn PcapReaderIterator + Send>,
    input: Arc<InputState>,
    capacity: usize,
    layout: Layout,
    done: bool,
}

/// What the container says about the records that follow.
enum Layout {
    Legacy {
        linktype: u16,
        nanosecond: bool,
        big_endian: bool,
    },
    Ng {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// What one block turned out to be.
enum Handled {
    /// A packet, already shown to the frame callback.
    Packet { ts: Timestamp, caplen: usize },
    /// A packet record that names no known interface.
    Orphan,
    /// Headers, statistics, name resolution and the like.
    Other,
}

/// One step of the reading loop, reported to the caller so it can report progress.
enum Step {
    Packet,
    Refilled,
    End,
}

/// A pcap-parser error, detached from the reader's buffer it borrows.
enum Failure {
    Eof,
    NeedMore,
    Cut,
    BufferTooSmall,
    Read,
    Parse(String),
}

impl From<PcapError<&[u8]>> for Failure {
    fn from(e: PcapError<&[u8]>) -> Failure {
        match e {
            PcapError::Eof => Failure::Eof,
            PcapError::Incomplete(_) => Failure::NeedMore,
            PcapError::UnexpectedEof => Failure::Cut,
            PcapError::BufferTooSmall => Failure::BufferTooSmall,
            PcapError::ReadError => Failure::Read,
            PcapError::HeaderNotRecognized => Failure::Parse("unrecognised header".into()),
            PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
                Failure::Parse(format!("record does not parse ({kind:?})"))
            }
        }
    }
}

impl CaptureReader {
    /// Opens `path`; `-` means standard input.
    pub fn open(path: &str) -> Result<Self, CaptureError> {
        let raw: Box<dyn Read + Send> = if path == "-" {
            Box::new(io::stdin())
        } else {
            let file = File::open(path).map_err(|source| CaptureError::Io {
                path: path.to_string(),
                source,
            })?;
            Box::new(file)
        };
        Self::from_boxed(path, raw)
    }

    /// Reads a capture from any byte stream; `name` stands for it in [`CaptureInfo::path`] and
    /// in errors. Gzip is detected by magic, as in [`open`](Self::open).
    pub fn from_read(name: &str, r: impl Read + Send + 'static) -> Result<Self, CaptureError> {
        Self::from_boxed(name, Box::new(r))
    }

    fn from_boxed(name: &str, raw: Box<dyn Read + Send>) -> Result<Self, CaptureError> {
        Self::with_capacity(name, raw, BUFFER_CAPACITY)
    }

    /// Tests use a small buffer: growth gets exercised and thousands of readers stay cheap.
    pub(super) fn with_capacity(
        name: &str,
        raw: Box<dyn Read + Send>,
        capacity: usize,
    ) -> Result<Self, CaptureError> {
        let opened = input::open(name, raw, capacity)?;
        let layout = match opened.format {
            Format::Pcap {
                nanosecond,
                big_endian,
            } => Layout::Legacy {
                linktype: 0,
                nanosecond,
                big_endian,
            },
            Format::PcapNg => Layout::Ng {
                big_endian: false,
                interfaces: Vec::new(),
            },
        };
        Ok(CaptureReader {
            info: CaptureInfo {
                path: name.to_string(),
                format: Some(opened.format),
                gzip: opened.gzip,
                ..CaptureInfo::default()
            },
            reader: opened.reader,
            input: opened.state,
            capacity,
            layout,
            done: false,
        })
    }

    /// Reads every frame into `sink`. A record cut off by the end of input is not an error:
    /// reading stops and [`CaptureInfo::truncated_at`] says where.
    pub fn run(&mut self, sink: &mut dyn FrameSink) -> Result<(), CaptureError> {
        loop {
            let mut flow = ControlFlow::Continue(());
            match self.step(true, &mut |frame| flow = sink.frame(frame))? {
                Step::Packet if flow.is_break() => return Ok(()),
                Step::Packet => {}
                Step::Refilled => sink.progress(self.info.stream_bytes),
                Step::End => return Ok(()),
            }
        }
    }

    pub fn info(&self) -> &CaptureInfo {
        &self.info
    }

    /// The timestamp of the first packet, without consuming it: a later [`run`](Self::run)
    /// still starts with that packet. Used to put several inputs in time order.
    pub fn first_timestamp(&mut self) -> Result<Option<Timestamp>, CaptureError> {
        if let Some(ts) = self.info.first_ts {
            return Ok(Some(ts));
        }
        let mut first = None;
        loop {
            match self.step(false, &mut |frame| first = Some(frame.ts))? {
                Step::Packet => return Ok(first),
                Step::Refilled => {}
                Step::End => return Ok(None),
            }
        }
    }

    /// Advances to the next packet and shows it to `on_frame`; with `consume` false the packet
    /// stays in the buffer and the next step shows it again.
    fn step(
        &mut self,
        consume: bool,
        on_frame: &mut dyn FnMut(&Frame<'_>),
    ) -> Result<Step, CaptureError> {
        loop {
            if self.done {
                return Ok(Step::End);
            }
            if self.reader.data().is_empty() {
                // Checked here rather than left to pcap-parser, which reports a clean end as
                // UnexpectedEof when the buffer's read position is not at its start.
                if self.reader.reader_exhausted() {
                    self.finish();
                    return Ok(Step::End);
                }
                self.refill()?;
                return Ok(Step::Refilled);
            }
            let offset = self.reader.consumed() as u64;
            self.check_block_header(offset)?;
            let number = self.info.packets + 1;
            let last_ts = self.info.last_ts.unwrap_or_default();
            let outcome = match self.reader.next() {
                Ok((len, block)) => Ok((
                    len,
                    self.layout
                        .handle(block, number, last_ts, &mut self.info, on_frame),
                )),
                Err(e) => Err(Failure::from(e)),
            };
            match outcome {
                Ok((len, Handled::Packet { ts, caplen })) => {
                    if consume {
                        self.consume(len);
                        self.info.packets += 1;
                        self.info.packet_bytes += caplen as u64;
                        self.info.first_ts.get_or_insert(ts);
                        self.info.last_ts = Some(ts);
                    }
                    return Ok(Step::Packet);
                }
                Ok((len, Handled::Orphan)) => {
                    self.consume(len);
                    self.info.bad_records += 1;
                }
                Ok((len, Handled::Other)) => self.consume(len),
                Err(Failure::Eof) => {
                    self.finish();
                    return Ok(Step::End);
                }
                // A full buffer that still needs more (pcap-parser may not say how much)
                // must grow, or refilling it would read nothing, forever.
                Err(Failure::NeedMore) if self.reader.data().len() < self.capacity => {
                    self.refill()?;
                    return Ok(Step::Refilled);
                }
                Err(Failure::Cut) => {
                    self.info.truncated_at = Some(offset);
                    self.finish();
                    return Ok(Step::End);
                }
                Err(Failure::NeedMore | Failure::BufferTooSmall) => {
                    let grown = self.capacity.saturating_mul(4);
                    if grown > MAX_RECORD {
                        return Err(self.malformed(offset, "record larger than 64 MiB".into()));
                    }
                    self.reader.grow(grown);
                    self.capacity = grown;
                    self.refill()?;
                    return Ok(Step::Refilled);
                }
                Err(Failure::Read) => return Err(self.read_error()),
                Err(Failure::Parse(detail)) => return Err(self.malformed(offset, detail)),
            }
        }
    }

    /// Rejects record headers pcap-parser would mishandle, before it sees them. A pcapng
    /// block shorter than 12 bytes makes pcap-parser 0.17 subtract with overflow.
    fn check_block_header(&mut self, offset: u64) -> Result<(), CaptureError> {
        let data = self.reader.data();
        let problem = match &self.layout {
            // The first "record" of a legacy file is its 24-byte header.
            Layout::Legacy { big_endian, .. } if offset > 0 => data.get(8..12).and_then(|b| {
                let caplen = u32_in(b, *big_endian) as usize;
                (caplen > MAX_RECORD)
                    .then(|| format!("record length {caplen} is over the 64 MiB limit"))
            }),
            Layout::Legacy { .. } => None,
            Layout::Ng { big_endian, .. } => ng_block_problem(data, *big_endian),
        };
        match problem {
            Some(detail) => Err(self.malformed(offset, detail)),
            None => Ok(()),
        }
    }

    fn consume(&mut self, len: usize) {
        self.reader.consume(len);
        self.info.stream_bytes = self.reader.consumed() as u64;
    }

    fn refill(&mut self) -> Result<(), CaptureError> {
        match self.reader.refill() {
            Ok(()) => Ok(()),
            Err(_) => Err(self.read_error()),
        }
    }

    fn finish(&mut self) {
        self.done = true;
        self.info.stream_bytes = self.reader.consumed() as u64;
        // A gzip member cut mid-stream may end exactly between records.
        if self.input.gzip_cut() && self.info.truncated_at.is_none() {
            self.info.truncated_at = Some(self.info.stream_bytes);
        }
    }

    fn read_error(&mut self) -> CaptureError {
        self.done = true;
        let source = self
            .input
            .take_error()
            .unwrap_or_else(|| io::Error::other("read error"));
        CaptureError::Io {
            path: self.info.path.clone(),
            source,
        }
    }

    fn malformed(&mut self, offset: u64, detail: String) -> CaptureError {
        self.done = true;
        CaptureError::Malformed {
            path: self.info.path.clone(),
            offset,
            detail,
        }
    }
}

/// Checks the 8-byte block header (and an EPB's captured length) at the start of `data`.
/// Returns `None` when fine or when too few bytes are buffered to tell yet.
fn ng_block_problem(data: &[u8], section_big_endian: bool) -> Option<String> {
    let head = data.first_chunk::<12>()?;
    let big_endian = if head[..4] == PCAPNG_SHB {
        match head[8..12] {
            [0x1a, 0x2b, 0x3c, 0x4d] => true,
            [0x4d, 0x3c, 0x2b, 0x1a] => false,
            _ => return Some("bad byte-order magic in a section header block".into()),
        }
    } else {
        section_big_endian
    };
    let len = u32_in(&head[4..8], big_endian);
    if len < 12 || len % 4 != 0 {
        return Some(format!(
            "block length {len} is not a multiple of 4 of at least 12"
        ));
    }
    if len as usize > MAX_RECORD {
        return Some(format!("block length {len} is over the 64 MiB limit"));
    }
    if u32_in(&head[..4], big_endian) == PCAPNG_EPB {
        if let Some(b) = data.get(20..24) {
            let caplen = u32_in(b, big_endian);
            if caplen > len.saturating_sub(32) {
                return Some(format!(
                    "packet length {caplen} does not fit its {len}-byte block"
                ));
            }
        }
    }
    None
}

/// `b` holds at least 4 bytes.
fn u32_in(b: &[u8], big_endian: bool) -> u32 {
    let b = [b[0], b[1], b[2], b[3]];
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

impl Layout {
    /// Learns from header blocks and shows packets to `on_frame` as frame `number`.
    fn handle(
        &mut self,
        block: PcapBlockOwned<'_>,
        number: u64,
        last_ts: Timestamp,
        info: &mut CaptureInfo,
        on_frame: &mut dyn FnMut(&Frame<'_>),
    ) -> Handled {
        let mut deliver = |ts, linktype, data: &[u8], orig_len| {
            on_frame(&Frame {
                number,
                ts,
                linktype,
                data,
                orig_len,
            });
            Handled::Packet {
                ts,
                caplen: data.len(),
            }
        };
        match (self, block) {
            (Layout::Legacy { linktype, .. }, PcapBlockOwned::LegacyHeader(h)) => {
                // The upper bits carry FCS information (libpcap's LT_LINKTYPE).
                *linktype = (h.network.0 & 0xFFFF) as u16;
                info.linktypes.insert(*linktype);
                Handled::Other
            }
            (
                Layout::Legacy {
                    linktype,
                    nanosecond,
                    ..
                },
                PcapBlockOwned::Legacy(b),
            ) => {
                // In nanosecond files the field pcap-parser calls ts_usec holds nanoseconds.
                let frac = if *nanosecond {
                    i64::from(b.ts_usec)
                } else {
                    i64::from(b.ts_usec) * 1000
                };
                let ts = Timestamp::from_secs_nanos(i64::from(b.ts_sec), frac);
                deliver(ts, *linktype, b.data, b.origlen)
            }
            (
                Layout::Ng {
                    big_endian,
                    interfaces,
                },
                PcapBlockOwned::NG(block),
            ) => match block {
                Block::SectionHeader(shb) => {
                    *big_endian = shb.big_endian();
                    interfaces.clear();
                    Handled::Other
                }
                Block::InterfaceDescription(idb) => {
                    let iface = Interface::new(&idb, *big_endian);
                    info.linktypes.insert(iface.linktype);
                    interfaces.push(iface);
                    Handled::Other
                }
                Block::EnhancedPacket(epb) => match interfaces.get(epb.if_id as usize) {
                    Some(iface) => {
                        let ts = iface.timestamp(epb.ts_high, epb.ts_low);
                        deliver(ts, iface.linktype, epb.packet_data(), epb.origlen)
                    }
                    None => Handled::Orphan,
                },
                // A simple packet has no timestamp and belongs to interface 0; its captured
                // length is what the interface's snap length left of the original.
                Block::SimplePacket(spb) => match interfaces.first() {
                    Some(iface) => {
                        let mut data = spb.packet_data();
                        if iface.snaplen != 0 && data.len() > iface.snaplen as usize {
                            data = &data[..iface.snaplen as usize];
                        }
                        deliver(last_ts, iface.linktype, data, spb.origlen)
                    }
                    None => Handled::Orphan,
                },
                _ => Handled::Other,
            },
            _ => Handled::Other,
        }
    }
}
