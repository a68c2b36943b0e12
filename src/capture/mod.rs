//! Streaming capture input: legacy pcap (µs/ns, both byte orders), pcapng (sections,
//! interfaces with their own link type and time resolution), gzip (by magic), standard input.
//!
//! Frames borrow the reader's fixed buffer and are pushed into a [`FrameSink`] (ripgrep's
//! searcher/sink idea), so memory does not grow with the file. Uses [`crate::time`] only.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use crate::time::Timestamp;

/// One captured packet, borrowing the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// 1-based record number within this capture file (Wireshark's `frame.number`).
    pub number: u64,
    pub ts: Timestamp,
    /// Link type (LINKTYPE_* value, FCS bits masked off).
    pub linktype: u16,
    /// Captured bytes (at most snaplen).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub orig_len: u32,
}

/// The container format of a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Pcap { nanosecond: bool, big_endian: bool },
    PcapNg,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pcap {
                nanosecond: false, ..
            } => "pcap",
            Format::Pcap {
                nanosecond: true, ..
            } => "pcap-ns",
            Format::PcapNg => "pcapng",
        }
    }
}

/// What was learned about one capture while reading it.
#[derive(Clone, Debug, Default)]
pub struct CaptureInfo {
    /// The path as the user gave it (`-` for standard input).
    pub path: String,
    pub format: Option<Format>,
    pub gzip: bool,
    /// Link types the capture declares (pcap header, pcapng interface descriptions).
    pub linktypes: BTreeSet<u16>,
    pub packets: u64,
    /// Captured bytes of all packets (sum of caplen).
    pub packet_bytes: u64,
    /// Bytes of the (decompressed) capture stream consumed.
    pub stream_bytes: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// Byte offset (in the decompressed stream) of a record cut off by the end of input.
    pub truncated_at: Option<u64>,
    /// Packet records that could not be delivered: a pcapng packet naming an interface its
    /// section did not describe.
    pub bad_records: u64,
    /// The file was read with direct I/O.
    pub direct_io: bool,
    /// Direct I/O was asked for and not used, and why (the file system refused it, or the
    /// input is not a regular file).
    pub direct_io_refused: Option<String>,
}

/// Receives frames from a [`CaptureReader`].
pub trait FrameSink {
    /// Called once per packet, in file order. `Break` stops reading.
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()>;

    /// Called after each buffer refill with the decompressed stream bytes consumed so far.
    fn progress(&mut self, _stream_bytes: u64) {}
}

mod ahead;
pub mod cache;
mod error;
mod input;
mod legacy;
mod pcapng;
mod reader;
#[cfg(test)]
mod tests;

pub use error::CaptureError;
pub use reader::CaptureReader;
