//! Legacy pcap records, parsed here rather than by pcap-parser: a record is a 16-byte header
//! (24 in the "modified" format) and its bytes, so a bounds check and four integer loads per
//! record beat a trait object call and a nom parser. Records are cut from one reusable buffer;
//! a record straddling the buffer's end is moved to the front before the next read. A file read
//! ahead ([`ReadAhead`]) is read without that buffer: records are cut from its blocks in place,
//! and a record straddling two blocks is put together in the room in front of the second.

use std::io::{self, Read};

use super::ahead::ReadAhead;
use super::input::{read_full, InputState};
use super::Frame;
use crate::time::Timestamp;

/// Small enough to stay in the L2 cache while the records in it are decoded, large enough that
/// a read system call is rare per record.
pub(super) const LEGACY_BUFFER: usize = 128 << 10;
/// The global header: magic, version, zone, sigfigs, snaplen, network.
pub(super) const GLOBAL_HEADER: u64 = 24;
/// The byte-swapped magic of Alexey Kuznetzov's modified format, whose records carry 8 more
/// bytes of header (interface index, protocol, packet type).
const MODIFIED_MAGIC: [u8; 4] = [0x34, 0xcd, 0xb2, 0xa1];

/// Streams the records of one legacy pcap file.
pub(super) struct LegacyReader {
    input: Input,
    /// The reader's own buffer, or the block of the file it is in.
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Stream offset of `buf[start]`.
    consumed: u64,
    exhausted: bool,
    big_endian: bool,
    nanosecond: bool,
    header_len: usize,
    pub linktype: u16,
}

/// Where the bytes come from.
enum Input {
    /// Read into the reader's buffer.
    Stream(Box<dyn Read + Send>),
    /// Blocks read ahead by other threads, taken as they are.
    Blocks(ReadAhead),
}

/// What the buffer holds at the read position.
pub(super) enum Peek<'a> {
    Record {
        frame: Frame<'a>,
        /// Header and data: what [`LegacyReader::consume`] takes.
        len: usize,
    },
    /// The record's header says it captured more than `caplen` bytes allow.
    Oversized { caplen: u32 },
    /// The record needs `need` bytes from the read position; fewer are buffered.
    Short { need: usize },
}

impl LegacyReader {
    /// `head` holds the first bytes of the stream (the sniffed global header, at least 24
    /// bytes); `capacity` is the initial buffer size.
    pub fn new(
        head: &[u8],
        input: Box<dyn Read + Send>,
        capacity: usize,
        nanosecond: bool,
        big_endian: bool,
    ) -> LegacyReader {
        let mut buf = vec![0; capacity.max(head.len())];
        buf[..head.len()].copy_from_slice(head);
        LegacyReader {
            buf,
            start: GLOBAL_HEADER as usize,
            end: head.len(),
            ..LegacyReader::with_input(head, Input::Stream(input), nanosecond, big_endian)
        }
    }

    /// A reader of the records in `blocks`, which start after the global header; `head` holds
    /// the file's first bytes (at least the 24 of the global header).
    pub fn with_blocks(
        head: &[u8],
        blocks: ReadAhead,
        nanosecond: bool,
        big_endian: bool,
    ) -> LegacyReader {
        LegacyReader::with_input(head, Input::Blocks(blocks), nanosecond, big_endian)
    }

    fn with_input(head: &[u8], input: Input, nanosecond: bool, big_endian: bool) -> LegacyReader {
        let header_len = if head.starts_with(&MODIFIED_MAGIC) {
            24
        } else {
            16
        };
        let network = u32_at(head, 20, big_endian);
        LegacyReader {
            input,
            buf: Vec::new(),
            start: 0,
            end: 0,
            consumed: GLOBAL_HEADER,
            exhausted: false,
            big_endian,
            nanosecond,
            header_len,
            // The upper bits carry FCS information (libpcap's LT_LINKTYPE).
            linktype: (network & 0xFFFF) as u16,
        }
    }

    /// Stream offset of the next record.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// No byte is left to read, in the buffer or behind it.
    pub fn at_end(&self) -> bool {
        self.exhausted && self.start == self.end
    }

    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// The record at the read position, as frame `number`, if it is all buffered.
    /// `max_caplen` bounds the captured length a header may declare.
    #[inline]
    pub fn peek(&self, max_caplen: usize, number: u64) -> Peek<'_> {
        let avail = &self.buf[self.start..self.end];
        let Some(head) = avail.first_chunk::<16>() else {
            // The length is judged as soon as it is buffered, even if the header is cut.
            if avail.len() >= 12 {
                let caplen = u32_at(avail, 8, self.big_endian);
                if caplen as usize > max_caplen {
                    return Peek::Oversized { caplen };
                }
            }
            return Peek::Short {
                need: self.header_len,
            };
        };
        let [secs, frac, caplen, orig_len] = header_words(head, self.big_endian);
        if caplen as usize > max_caplen {
            return Peek::Oversized { caplen };
        }
        let len = self.header_len + caplen as usize;
        let Some(data) = avail.get(self.header_len..len) else {
            return Peek::Short { need: len };
        };
        // In nanosecond files the second field holds nanoseconds, else microseconds.
        let frac = if self.nanosecond {
            i64::from(frac)
        } else {
            i64::from(frac) * 1000
        };
        Peek::Record {
            frame: Frame {
                number,
                ts: Timestamp::from_secs_nanos(i64::from(secs), frac),
                linktype: self.linktype,
                data,
                orig_len,
            },
            len,
        }
    }

    pub fn consume(&mut self, len: usize) {
        self.start += len;
        self.consumed += len as u64;
    }

    /// Moves the unread bytes to the front, makes room for `need` of them, and reads until
    /// the buffer is full or the input ends (a pipe may hand out a few bytes per read). Read
    /// ahead, it moves on to the next block instead, the unread bytes put in front of it; a
    /// record longer than that takes more refills.
    pub fn refill(&mut self, need: usize, state: &InputState) -> io::Result<()> {
        let input = match &mut self.input {
            Input::Stream(input) => input,
            Input::Blocks(blocks) => {
                match blocks.next_into(&mut self.buf, self.start..self.end)? {
                    Some(start) => {
                        self.start = start;
                        self.end = self.buf.len();
                        self.exhausted = false;
                    }
                    None => self.exhausted = true,
                }
                return Ok(());
            }
        };
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if need > self.buf.len() {
            self.buf.resize(need, 0);
        }
        let n = read_full(input, &mut self.buf[self.end..], state)?;
        self.end += n;
        // Only an empty read says so, as with pcap-parser: the end is then met by a refill of
        // its own, which reports progress once more.
        self.exhausted = n == 0;
        Ok(())
    }
}

/// A record header's four fields (seconds, fraction, captured and original length) in the
/// file's byte order: one test of the order per record rather than one per field.
#[inline]
fn header_words(head: &[u8; 16], big_endian: bool) -> [u32; 4] {
    let words: [[u8; 4]; 4] = std::array::from_fn(|i| {
        [
            head[4 * i],
            head[4 * i + 1],
            head[4 * i + 2],
            head[4 * i + 3],
        ]
    });
    if big_endian {
        words.map(u32::from_be_bytes)
    } else {
        words.map(u32::from_le_bytes)
    }
}

/// The 32-bit field at `at` in the file's byte order; `b` holds at least `at + 4` bytes.
#[inline]
pub(super) fn u32_at(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let b = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}
