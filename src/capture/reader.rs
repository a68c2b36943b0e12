use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::Arc;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError};

use super::ahead::{self, read_at_full, ReadAhead, DIRECT_ALIGN};
use super::input::{self, InputState, Opened, Records, BUFFER_CAPACITY};
use super::legacy::{u32_at, LegacyReader, Peek, GLOBAL_HEADER};
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
    source: Source,
    input: Arc<InputState>,
    done: bool,
}

enum Source {
    Legacy(LegacyReader),
    Ng(NgSource),
}

/// pcapng through pcap-parser.
struct NgSource {
    reader: Box<dyn PcapReaderIterator + Send>,
    capacity: usize,
    layout: Layout,
}

/// What the current pcapng section says about the blocks that follow.
struct Layout {
    big_endian: bool,
    interfaces: Vec<Interface>,
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

    /// [`open`](Self::open), with the file read ahead in blocks by `threads` threads of its own
    /// (see `ahead.rs`); standard input, anything but a regular file, or `threads` 0, is read
    /// as by `open`. For runs in which
    /// the thread that walks the records is the one that limits the speed.
    ///
    /// With `direct`, the blocks are read with direct I/O (Linux's `O_DIRECT`: from the disk,
    /// leaving the page cache alone and without the kernel's copy out of it) where the file
    /// system allows it; where it does not, or for an input that is not a regular file, the
    /// file is read as without it and [`CaptureInfo::direct_io_refused`] says why.
    pub fn open_read_ahead(path: &str, threads: usize, direct: bool) -> Result<Self, CaptureError> {
        Self::read_ahead_with(path, threads, ahead::BLOCK, ahead::HEADROOM, direct)
    }

    /// [`open_read_ahead`](Self::open_read_ahead) with blocks of `block` bytes and `headroom`
    /// bytes of room in front of each (tests use small ones; with `direct`, `block` must be a
    /// multiple of 4096).
    pub(super) fn read_ahead_with(
        path: &str,
        threads: usize,
        block: usize,
        headroom: usize,
        direct: bool,
    ) -> Result<Self, CaptureError> {
        // Read as by `open`; why direct I/O is not used, if it was asked for.
        let plain = |reader: Result<Self, CaptureError>, why: &str| {
            reader.map(|mut r| {
                if direct {
                    r.info.direct_io_refused = Some(why.to_string());
                }
                r
            })
        };
        if path == "-" {
            return plain(
                Self::open(path),
                "standard input is not a file (give the capture's path instead)",
            );
        }
        if threads == 0 {
            return plain(Self::open(path), "the file is not read ahead");
        }
        let io_err = |source| CaptureError::Io {
            path: path.to_string(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        // Positioned reads need a regular file: a named pipe or `/dev/fd/N` (a shell's process
        // substitution) is read as a stream.
        if !file.metadata().map_err(io_err)?.is_file() {
            return plain(Self::from_boxed(path, Box::new(file)), "not a regular file");
        }
        // Legacy pcap is cut into records straight from the blocks; gzip and pcapng are read
        // through them.
        let mut head = [0; input::SNIFF_LEN];
        let n = read_at_full(&file, &mut head, 0).map_err(io_err)?;
        // The blocks come from a second descriptor opened for direct I/O; the head was read
        // through the first, since direct I/O cannot read 28 bytes into any buffer.
        let (file, refused) = match direct.then(|| open_direct(path)) {
            None => (file, None),
            Some(Ok(direct_file)) => (direct_file, None),
            Some(Err(e)) => (file, Some(e.to_string())),
        };
        let direct = direct && refused.is_none();
        let align = if direct { DIRECT_ALIGN } else { 1 };
        let mut reader = if let Ok(
            format @ Format::Pcap {
                nanosecond,
                big_endian,
            },
        ) = input::sniff(&head[..n])
        {
            let blocks =
                ReadAhead::with_block(file, threads, GLOBAL_HEADER, block, headroom, align)
                    .map_err(io_err)?;
            let legacy = LegacyReader::with_blocks(&head[..n], blocks, nanosecond, big_endian);
            Self::from_legacy(path, legacy, format)?
        } else {
            let raw =
                ReadAhead::with_block(file, threads, 0, block, headroom, align).map_err(io_err)?;
            Self::from_boxed(path, Box::new(raw))?
        };
        reader.info.direct_io = direct;
        reader.info.direct_io_refused = refused;
        Ok(reader)
    }

    /// A reader of the records of `legacy`, a legacy pcap file not compressed.
    fn from_legacy(
        path: &str,
        mut legacy: LegacyReader,
        format: Format,
    ) -> Result<Self, CaptureError> {
        let state = Arc::new(InputState::default());
        legacy
            .refill(0, &state)
            .map_err(|source| CaptureError::Io {
                path: path.to_string(),
                source,
            })?;
        let opened = Opened {
            format,
            gzip: false,
            records: Records::Legacy(legacy),
            state,
        };
        Ok(Self::from_opened(path, opened, BUFFER_CAPACITY))
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
        Ok(Self::from_opened(name, opened, capacity))
    }

    fn from_opened(name: &str, opened: Opened, capacity: usize) -> Self {
        let mut info = CaptureInfo {
            path: name.to_string(),
            format: Some(opened.format),
            gzip: opened.gzip,
            ..CaptureInfo::default()
        };
        let source = match opened.records {
            Records::Legacy(legacy) => {
                info.linktypes.insert(legacy.linktype);
                info.stream_bytes = legacy.consumed();
                Source::Legacy(legacy)
            }
            Records::Ng(reader) => Source::Ng(NgSource {
                reader,
                capacity,
                layout: Layout {
                    big_endian: false,
                    interfaces: Vec::new(),
                },
            }),
        };
        CaptureReader {
            info,
            source,
            input: opened.state,
            done: false,
        }
    }

    /// Reads every frame into `sink`. A record cut off by the end of input is not an error:
    /// reading stops and [`CaptureInfo::truncated_at`] says where.
    pub fn run<S: FrameSink + ?Sized>(&mut self, sink: &mut S) -> Result<(), CaptureError> {
        loop {
            if let Source::Legacy(legacy) = &mut self.source {
                if !self.done && legacy_records(legacy, &mut self.info, sink).is_break() {
                    return Ok(());
                }
            }
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
        if self.done {
            return Ok(Step::End);
        }
        let step = match &mut self.source {
            Source::Legacy(legacy) => {
                step_legacy(legacy, &mut self.info, &self.input, consume, on_frame)
            }
            Source::Ng(ng) => ng.step(&mut self.info, consume, on_frame),
        };
        match step {
            Ok(Step::End) => {
                self.finish();
                Ok(Step::End)
            }
            Ok(step) => Ok(step),
            Err(Stop::Read) => {
                let source = self
                    .input
                    .take_error()
                    .unwrap_or_else(|| io::Error::other("read error"));
                Err(self.fail(|path| CaptureError::Io { path, source }))
            }
            Err(Stop::Io(source)) => Err(self.fail(|path| CaptureError::Io { path, source })),
            Err(Stop::Malformed(offset, detail)) => {
                Err(self.fail(|path| CaptureError::Malformed {
                    path,
                    offset,
                    detail,
                }))
            }
        }
    }

    fn finish(&mut self) {
        self.done = true;
        self.info.stream_bytes = match &self.source {
            Source::Legacy(legacy) => legacy.consumed(),
            Source::Ng(ng) => ng.reader.consumed() as u64,
        };
        // A gzip member cut mid-stream may end exactly between records.
        if self.input.gzip_cut() && self.info.truncated_at.is_none() {
            self.info.truncated_at = Some(self.info.stream_bytes);
        }
    }

    fn fail(&mut self, error: impl FnOnce(String) -> CaptureError) -> CaptureError {
        self.done = true;
        error(self.info.path.clone())
    }
}

/// `path` opened for direct I/O, after one aligned read has shown that its file system takes
/// it (some accept the flag and refuse the reads).
#[cfg(target_os = "linux")]
pub(super) fn open_direct(path: &str) -> io::Result<File> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let refused =
        |e: io::Error| io::Error::new(e.kind(), format!("the file system refused O_DIRECT ({e})"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(path)
        .map_err(refused)?;
    let mut probe = vec![0; 2 * DIRECT_ALIGN];
    let at = ahead::aligned(&probe, 0, DIRECT_ALIGN);
    file.read_at(&mut probe[at..at + DIRECT_ALIGN], 0)
        .map_err(refused)?;
    Ok(file)
}

#[cfg(not(target_os = "linux"))]
pub(super) fn open_direct(_path: &str) -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "direct I/O needs Linux's O_DIRECT",
    ))
}

/// Why a step cannot go on.
enum Stop {
    /// Below pcap-parser, which reports a bare `ReadError`: the cause waits in [`InputState`].
    Read,
    Io(io::Error),
    /// At this stream offset.
    Malformed(u64, String),
}

/// A packet record was taken in.
#[inline]
fn count_packet(info: &mut CaptureInfo, ts: Timestamp, caplen: usize) {
    info.packets += 1;
    info.packet_bytes += caplen as u64;
    info.first_ts.get_or_insert(ts);
    info.last_ts = Some(ts);
}

/// Shows `sink` every legacy record that is whole in the buffer, in a loop of its own: the
/// common case, without a step's checks and returns per record. What is not a whole record
/// (the buffer's end, the input's end, a bad length) is left to [`step_legacy`].
#[inline]
fn legacy_records<S: FrameSink + ?Sized>(
    legacy: &mut LegacyReader,
    info: &mut CaptureInfo,
    sink: &mut S,
) -> ControlFlow<()> {
    let mut flow = ControlFlow::Continue(());
    while let Peek::Record { frame, len } = legacy.peek(MAX_RECORD, info.packets + 1) {
        flow = sink.frame(&frame);
        count_packet(info, frame.ts, frame.data.len());
        legacy.consume(len);
        if flow.is_break() {
            break;
        }
    }
    info.stream_bytes = legacy.consumed();
    flow
}

/// One step over a legacy pcap file; see [`CaptureReader::step`].
#[inline]
fn step_legacy(
    legacy: &mut LegacyReader,
    info: &mut CaptureInfo,
    input: &InputState,
    consume: bool,
    on_frame: &mut dyn FnMut(&Frame<'_>),
) -> Result<Step, Stop> {
    match legacy.peek(MAX_RECORD, info.packets + 1) {
        Peek::Record { frame, len } => {
            on_frame(&frame);
            if consume {
                count_packet(info, frame.ts, frame.data.len());
                legacy.consume(len);
                info.stream_bytes = legacy.consumed();
            }
            Ok(Step::Packet)
        }
        Peek::Oversized { caplen } => Err(Stop::Malformed(
            legacy.consumed(),
            format!("record length {caplen} is over the 64 MiB limit"),
        )),
        Peek::Short { .. } if legacy.at_end() => Ok(Step::End),
        Peek::Short { .. } if legacy.exhausted() => {
            info.truncated_at = Some(legacy.consumed());
            Ok(Step::End)
        }
        // The pcap-parser buffer this one replaced refused such a record, and so does this.
        Peek::Short { need } if need >= MAX_RECORD => Err(Stop::Malformed(
            legacy.consumed(),
            "record larger than 64 MiB".into(),
        )),
        Peek::Short { need } => match legacy.refill(need, input) {
            Ok(()) => Ok(Step::Refilled),
            Err(e) => Err(Stop::Io(e)),
        },
    }
}

impl NgSource {
    /// One step over a pcapng file; see [`CaptureReader::step`].
    fn step(
        &mut self,
        info: &mut CaptureInfo,
        consume: bool,
        on_frame: &mut dyn FnMut(&Frame<'_>),
    ) -> Result<Step, Stop> {
        loop {
            if self.reader.data().is_empty() {
                // Checked here rather than left to pcap-parser, which reports a clean end as
                // UnexpectedEof when the buffer's read position is not at its start.
                if self.reader.reader_exhausted() {
                    return Ok(Step::End);
                }
                self.refill()?;
                return Ok(Step::Refilled);
            }
            let offset = self.reader.consumed() as u64;
            // Rejects block headers pcap-parser would mishandle, before it sees them.
            if let Some(detail) = ng_block_problem(self.reader.data(), self.layout.big_endian) {
                return Err(Stop::Malformed(offset, detail));
            }
            let number = info.packets + 1;
            let last_ts = info.last_ts.unwrap_or_default();
            let outcome = match self.reader.next() {
                Ok((len, block)) => Ok((
                    len,
                    self.layout.handle(block, number, last_ts, info, on_frame),
                )),
                Err(e) => Err(Failure::from(e)),
            };
            match outcome {
                Ok((len, Handled::Packet { ts, caplen })) => {
                    if consume {
                        self.consume(len, info);
                        count_packet(info, ts, caplen);
                    }
                    return Ok(Step::Packet);
                }
                Ok((len, Handled::Orphan)) => {
                    self.consume(len, info);
                    info.bad_records += 1;
                }
                Ok((len, Handled::Other)) => self.consume(len, info),
                Err(Failure::Eof) => return Ok(Step::End),
                // A full buffer that still needs more (pcap-parser may not say how much)
                // must grow, or refilling it would read nothing, forever.
                Err(Failure::NeedMore) if self.reader.data().len() < self.capacity => {
                    self.refill()?;
                    return Ok(Step::Refilled);
                }
                Err(Failure::Cut) => {
                    info.truncated_at = Some(offset);
                    return Ok(Step::End);
                }
                Err(Failure::NeedMore | Failure::BufferTooSmall) => {
                    let grown = self.capacity.saturating_mul(4);
                    if grown > MAX_RECORD {
                        return Err(Stop::Malformed(offset, "record larger than 64 MiB".into()));
                    }
                    self.reader.grow(grown);
                    self.capacity = grown;
                    self.refill()?;
                    return Ok(Step::Refilled);
                }
                Err(Failure::Read) => return Err(Stop::Read),
                Err(Failure::Parse(detail)) => return Err(Stop::Malformed(offset, detail)),
            }
        }
    }

    fn consume(&mut self, len: usize, info: &mut CaptureInfo) {
        self.reader.consume(len);
        info.stream_bytes = self.reader.consumed() as u64;
    }

    fn refill(&mut self) -> Result<(), Stop> {
        self.reader.refill().map_err(|_| Stop::Read)
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
    let len = u32_at(head, 4, big_endian);
    if len < 12 || len % 4 != 0 {
        return Some(format!(
            "block length {len} is not a multiple of 4 of at least 12"
        ));
    }
    if len as usize > MAX_RECORD {
        return Some(format!("block length {len} is over the 64 MiB limit"));
    }
    if u32_at(head, 0, big_endian) == PCAPNG_EPB && data.len() >= 24 {
        let caplen = u32_at(data, 20, big_endian);
        if caplen > len.saturating_sub(32) {
            return Some(format!(
                "packet length {caplen} does not fit its {len}-byte block"
            ));
        }
    }
    None
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
        let PcapBlockOwned::NG(block) = block else {
            return Handled::Other;
        };
        let Layout {
            big_endian,
            interfaces,
        } = self;
        match block {
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
        }
    }
}
