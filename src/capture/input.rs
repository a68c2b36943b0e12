//! Opening the byte stream: file or standard input, gzip by magic, and the container format by
//! magic; then legacy pcap goes to finscope's own record reader and pcapng to pcap-parser.

use std::io::{self, BufReader, Cursor, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapError, PcapNGReader};

use super::legacy::{LegacyReader, LEGACY_BUFFER};
use super::{CaptureError, Format};

/// pcap-parser's buffer for pcapng (legacy pcap uses at most [`LEGACY_BUFFER`]). tcpdump's
/// default snaplen is 262144, so 1 MiB holds several records.
pub(super) const BUFFER_CAPACITY: usize = 1 << 20;
const INPUT_BUFFER: usize = 64 << 10;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Enough for the 24-byte pcap header and the fixed 28 bytes of a pcapng section header.
pub(super) const SNIFF_LEN: usize = 28;

/// What happened below pcap-parser, which reports every read failure as a bare `ReadError`.
#[derive(Default)]
pub(super) struct InputState {
    error: Mutex<Option<io::Error>>,
    gzip_cut: AtomicBool,
}

impl InputState {
    pub(super) fn take_error(&self) -> Option<io::Error> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    /// The gzip stream ended in the middle of a member: the capture is cut short.
    pub(super) fn gzip_cut(&self) -> bool {
        self.gzip_cut.load(Ordering::Relaxed)
    }
}

/// Loops `read()` until the buffer is full or the input ends. pcap-parser reads once per
/// refill, so a pipe that delivers a few bytes at a time would otherwise look truncated.
struct FullRead<R> {
    inner: R,
    state: Arc<InputState>,
}

impl<R: Read> Read for FullRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match read_full(&mut self.inner, buf, &self.state) {
            Ok(n) => Ok(n),
            Err(e) => {
                let kind = e.kind();
                if let Ok(mut slot) = self.state.error.lock() {
                    *slot = Some(e);
                }
                Err(kind.into())
            }
        }
    }
}

pub(super) fn read_full(
    r: &mut impl Read,
    buf: &mut [u8],
    state: &InputState,
) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // flate2's word for a member cut off mid-stream: treat it as the end of input so
            // the records before the cut still count.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                state.gzip_cut.store(true, Ordering::Relaxed);
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(super) struct Opened {
    pub format: Format,
    pub gzip: bool,
    pub records: Records,
    pub state: Arc<InputState>,
}

/// Who cuts the stream into records.
pub(super) enum Records {
    Legacy(LegacyReader),
    Ng(Box<dyn PcapReaderIterator + Send>),
}

pub(super) fn open(
    path: &str,
    raw: Box<dyn Read + Send>,
    capacity: usize,
) -> Result<Opened, CaptureError> {
    let io_err = |source| CaptureError::Io {
        path: path.to_string(),
        source,
    };
    let not_a_capture = |detail: String| CaptureError::NotACapture {
        path: path.to_string(),
        detail,
    };

    let state = Arc::new(InputState::default());
    let mut raw = raw;
    let mut magic = [0u8; 2];
    let m = read_full(&mut raw, &mut magic, &state).map_err(io_err)?;
    let gzip = m == 2 && magic == GZIP_MAGIC;
    let buffered =
        BufReader::with_capacity(INPUT_BUFFER, Cursor::new(magic).take(m as u64).chain(raw));
    let mut stream: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };

    let mut head = [0u8; SNIFF_LEN];
    let n = read_full(&mut stream, &mut head, &state).map_err(io_err)?;
    let head = &head[..n];
    let format = sniff(head).map_err(not_a_capture)?;

    if let Format::Pcap {
        nanosecond,
        big_endian,
    } = format
    {
        let capacity = capacity.min(LEGACY_BUFFER);
        let mut legacy = LegacyReader::new(head, stream, capacity, nanosecond, big_endian);
        legacy.refill(0, &state).map_err(io_err)?;
        return Ok(Opened {
            format,
            gzip,
            records: Records::Legacy(legacy),
            state,
        });
    }
    let input = FullRead {
        inner: Cursor::new(head.to_vec()).chain(stream),
        state: Arc::clone(&state),
    };
    let reader = PcapNGReader::new(capacity, input).map_err(|e| match e {
        PcapError::ReadError => match state.take_error() {
            Some(source) => io_err(source),
            None => not_a_capture("read error".into()),
        },
        PcapError::Incomplete(_) | PcapError::UnexpectedEof | PcapError::Eof => {
            not_a_capture(format!("file ends inside the {} header", format.as_str()))
        }
        _ => not_a_capture(format!("invalid {} header", format.as_str())),
    })?;
    Ok(Opened {
        format,
        gzip,
        records: Records::Ng(Box::new(reader)),
        state,
    })
}

/// Tells the container apart by its magic; the detail says why it is not a capture.
pub(super) fn sniff(head: &[u8]) -> Result<Format, String> {
    let Some(magic) = head.first_chunk::<4>() else {
        return Err(if head.is_empty() {
            "empty file".into()
        } else {
            "file ends inside the 4-byte magic number".into()
        });
    };
    let format = match *magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x34, 0xcd, 0xb2, 0xa1] => Format::Pcap {
            nanosecond: false,
            big_endian: false,
        },
        [0xa1, 0xb2, 0xc3, 0xd4] => Format::Pcap {
            nanosecond: false,
            big_endian: true,
        },
        [0x4d, 0x3c, 0xb2, 0xa1] => Format::Pcap {
            nanosecond: true,
            big_endian: false,
        },
        [0xa1, 0xb2, 0x3c, 0x4d] => Format::Pcap {
            nanosecond: true,
            big_endian: true,
        },
        PCAPNG_MAGIC => Format::PcapNg,
        _ => {
            return Err(format!(
                "unknown magic 0x{:08x}",
                u32::from_be_bytes(*magic)
            ))
        }
    };
    match format {
        Format::Pcap { .. } if head.len() < 24 => {
            Err("file ends inside the 24-byte pcap header".into())
        }
        Format::PcapNg if head.len() < SNIFF_LEN => {
            Err("file ends inside the pcapng section header block".into())
        }
        Format::PcapNg
            if !matches!(
                head[8..12],
                [0x1a, 0x2b, 0x3c, 0x4d] | [0x4d, 0x3c, 0x2b, 0x1a]
            ) =>
        {
            Err("bad byte-order magic in the pcapng section header block".into())
        }
        _ => Ok(format),
    }
}
