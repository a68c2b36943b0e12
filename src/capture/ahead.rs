//! Reading a file ahead on other threads. With several workers, the thread that walks the
//! records spends most of its time in the kernel's copy of the file into its buffer; here
//! `threads` threads read the file's blocks with positioned reads (block `b` by thread
//! `b mod threads`), and the reader takes the blocks in order, so the bytes it sees are those
//! a plain read gives. A legacy pcap reader cuts its records straight out of the blocks
//! ([`ReadAhead::next_into`]); anything else reads them through [`Read`], a copy out of the
//! cache.
//!
//! Blocks can be read with direct I/O (`O_DIRECT`: from the disk into the block, without the
//! page cache and the kernel's copy out of it), which asks for the block's memory, its length
//! and its file offset to be multiples of the device's block size: each block's bytes then start
//! at an address aligned to [`DIRECT_ALIGN`], and the blocks at an aligned file offset, the
//! bytes before `start` in the first block left out.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;

/// Bytes per block: large enough that a read call is rare, small enough that a few blocks per
/// thread in flight cost little memory.
pub(super) const BLOCK: usize = 1 << 20;
/// Room in front of each block's bytes for the unread end of the block before it (the start
/// of a record the block boundary cut): tcpdump's largest snaplen and a record header fit.
/// A longer end is joined to the block in a buffer of its own.
pub(super) const HEADROOM: usize = (256 << 10) + 64;
/// Blocks each thread may have read before the reader takes them.
const DEPTH: usize = 2;
/// Alignment of memory, length and file offset for direct I/O: Linux asks for the logical
/// block size of the device, 512 or 4096 bytes.
pub(super) const DIRECT_ALIGN: usize = 4096;

/// One block as a read-ahead thread hands it over: its bytes are `bytes[at..]`, after at least
/// the room asked for.
struct Block {
    bytes: Vec<u8>,
    at: usize,
    /// It came short: the file ends in it.
    last: bool,
}

/// A [`Read`] over a file whose blocks other threads read ahead; or, through
/// [`next_into`](Self::next_into), the blocks themselves.
pub(super) struct ReadAhead {
    /// Blocks from thread `t`, in its order.
    blocks: Vec<Receiver<io::Result<Block>>>,
    /// Emptied blocks back to thread `t`.
    emptied: Vec<SyncSender<Vec<u8>>>,
    /// Blocks taken so far.
    index: usize,
    /// The block [`Read`] reads from, and the thread it came from.
    block: Vec<u8>,
    from: Option<usize>,
    pos: usize,
    /// The last block taken was the file's last (it came short).
    last: bool,
    threads: Vec<thread::JoinHandle<()>>,
}

impl ReadAhead {
    /// Starts `threads` threads (at least 1) reading `file` from byte `start`, in blocks of
    /// `block` bytes, each after `headroom` bytes of room ([`BLOCK`] and [`HEADROOM`] but in
    /// tests). Each block's bytes start at an address that is a multiple of `align`, and its
    /// file offset is one too ([`DIRECT_ALIGN`] for a file opened for direct I/O, 1 for
    /// others); `block` must then be a multiple of `align`.
    pub(super) fn with_block(
        file: File,
        threads: usize,
        start: u64,
        block: usize,
        headroom: usize,
        align: usize,
    ) -> io::Result<ReadAhead> {
        debug_assert!(align > 0 && block % align == 0);
        let threads = threads.max(1);
        let file = Arc::new(file);
        let mut blocks = Vec::with_capacity(threads);
        let mut emptied = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for t in 0..threads {
            let (block_tx, block_rx) = sync_channel(DEPTH);
            // Room for every block the thread can have out, so giving one back never waits.
            let (empty_tx, empty_rx) = sync_channel(DEPTH + 2);
            let file = Arc::clone(&file);
            let layout = Layout {
                start: start - start % align as u64,
                skip: (start % align as u64) as usize,
                block,
                headroom,
                align,
                first: t,
                step: threads,
            };
            handles.push(
                thread::Builder::new()
                    .name(format!("finscope-ahead{t}"))
                    .spawn(move || read_blocks(&file, layout, &block_tx, &empty_rx))?,
            );
            blocks.push(block_rx);
            emptied.push(empty_tx);
        }
        Ok(ReadAhead {
            blocks,
            emptied,
            index: 0,
            block: Vec::new(),
            from: None,
            pos: 0,
            last: false,
            threads: handles,
        })
    }

    /// The next block and the thread that read it; `None` after the file's last.
    fn take(&mut self) -> io::Result<Option<(Block, usize)>> {
        if self.last {
            return Ok(None);
        }
        let thread = self.index % self.blocks.len();
        let next = self.blocks[thread]
            .recv()
            .map_err(|_| io::Error::other("a read-ahead thread stopped"))??;
        self.index += 1;
        self.last = next.last;
        Ok((next.bytes.len() > next.at).then_some((next, thread)))
    }

    /// Gives a block back to the thread that read it, to read into again. The thread may be
    /// gone (it met the end); then the block is dropped.
    fn give_back(&self, block: Vec<u8>, from: Option<usize>) {
        if let Some(t) = from {
            let _ = self.emptied[t].try_send(block);
        }
    }

    /// Moves `buf` on to the next block: the bytes `buf[keep]` (the unread end of the block it
    /// holds) are put in front of the next block's, and `buf` becomes that block, whose bytes
    /// start at the returned index. `None` at the end of the file, with `buf` as it was. The
    /// block `buf` held goes back to its thread.
    pub(super) fn next_into(
        &mut self,
        buf: &mut Vec<u8>,
        keep: Range<usize>,
    ) -> io::Result<Option<usize>> {
        let Some((next, thread)) = self.take()? else {
            return Ok(None);
        };
        let len = keep.len();
        let Block { mut bytes, at, .. } = next;
        let (joined, from, start) = if len <= at {
            let start = at - len;
            bytes[start..at].copy_from_slice(&buf[keep]);
            (bytes, Some(thread), start)
        } else {
            // A record longer than the room in front: joined in a buffer that no thread owns.
            let mut joined = Vec::with_capacity(len + bytes.len() - at);
            joined.extend_from_slice(&buf[keep]);
            joined.extend_from_slice(&bytes[at..]);
            self.give_back(bytes, Some(thread));
            (joined, None, 0)
        };
        let old = std::mem::replace(buf, joined);
        let old_from = std::mem::replace(&mut self.from, from);
        self.give_back(old, old_from);
        Ok(Some(start))
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pos == self.block.len() {
            let Some((next, thread)) = self.take()? else {
                return Ok(0);
            };
            let old = std::mem::replace(&mut self.block, next.bytes);
            let old_from = self.from.replace(thread);
            self.give_back(old, old_from);
            self.pos = next.at;
        }
        let n = out.len().min(self.block.len() - self.pos);
        out[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for ReadAhead {
    /// Closes the queues, which ends every thread (one waiting to hand a block over, or for an
    /// emptied one, is told the reader is gone), and waits for them.
    fn drop(&mut self) {
        self.blocks.clear();
        self.emptied.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Which blocks one read-ahead thread reads, and where they go in its buffers.
struct Layout {
    /// File offset of block 0, a multiple of `align`.
    start: u64,
    /// Bytes at the start of block 0 that are not the reader's (before the `start` it asked).
    skip: usize,
    block: usize,
    headroom: usize,
    /// Each block's bytes start at an address that is a multiple of this.
    align: usize,
    /// This thread reads blocks `first`, `first + step`, ...
    first: usize,
    step: usize,
}

/// One read-ahead thread: its blocks in order, until one comes short (the end of the file) or
/// the reader is gone.
fn read_blocks(
    file: &File,
    layout: Layout,
    out: &SyncSender<io::Result<Block>>,
    emptied: &Receiver<Vec<u8>>,
) {
    // Room to move the bytes up to the next aligned address.
    let full = layout.headroom + layout.align - 1 + layout.block;
    let mut fresh = DEPTH + 2;
    let mut index = layout.first;
    loop {
        let mut buf = if fresh > 0 {
            fresh -= 1;
            Vec::with_capacity(full)
        } else {
            match emptied.recv() {
                Ok(b) => b,
                Err(_) => return,
            }
        };
        // A block given back is full already (only the last comes short, and its thread is
        // done then): only a new one is zeroed, not every block again before it is read into.
        buf.resize(full, 0);
        let from = aligned(&buf, layout.headroom, layout.align);
        let offset = layout.start + (index as u64) * (layout.block as u64);
        let read = read_at_full(file, &mut buf[from..from + layout.block], offset);
        let skip = if index == 0 { layout.skip } else { 0 };
        let block = read.map(|n| {
            buf.truncate(from + n);
            Block {
                bytes: buf,
                at: from + skip.min(n),
                last: n < layout.block,
            }
        });
        // The thread is done after the file's last block, or an error.
        let last = block.as_ref().map_or(true, |b| b.last);
        if out.send(block).is_err() || last {
            return;
        }
        index += layout.step;
    }
}

/// The first index at or after `from` whose address in `buf` is a multiple of `align`.
pub(super) fn aligned(buf: &[u8], from: usize, align: usize) -> usize {
    let addr = buf.as_ptr().addr() + from;
    from + (align - addr % align) % align
}

/// Fills `buf` from offset `at`, short only at the end of the file.
pub(super) fn read_at_full(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use proptest::prelude::*;

    use super::*;

    /// What reading `file` through a `ReadAhead` gives, in reads of `chunk` bytes.
    fn read_through(file: File, threads: usize, block: usize, chunk: usize) -> Vec<u8> {
        let mut r = ReadAhead::with_block(file, threads, 0, block, 3, 1).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0; chunk];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        // Read again after the end: still the end.
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        out
    }

    /// What a record reader gets through [`ReadAhead::next_into`] from `file` read from
    /// `start`: it takes `takes[i]` bytes (at most what it holds) before each move to the next
    /// block, keeping the rest, and at the end takes what is left. Blocks are read at file
    /// offsets and addresses that are multiples of `align`; the address is checked for every
    /// block after the first that fits its room.
    fn take_through(
        file: File,
        threads: usize,
        (start, align): (u64, usize),
        block: usize,
        headroom: usize,
        takes: &[usize],
    ) -> Vec<u8> {
        let mut r = ReadAhead::with_block(file, threads, start, block, headroom, align).unwrap();
        let (mut buf, mut at, mut end) = (Vec::new(), 0, 0);
        let mut out = Vec::new();
        let mut first = true;
        for &take in takes.iter().cycle() {
            let take = take.min(end - at);
            out.extend_from_slice(&buf[at..at + take]);
            at += take;
            let kept = end - at;
            match r.next_into(&mut buf, at..end).unwrap() {
                Some(start) => {
                    // The kept bytes come first, unchanged.
                    assert!(buf.len() >= start + kept);
                    if !first && kept <= headroom {
                        assert_eq!((buf.as_ptr().addr() + start + kept) % align, 0);
                    }
                    first = false;
                    (at, end) = (start, buf.len());
                }
                None => break,
            }
        }
        out.extend_from_slice(&buf[at..end]);
        // Asked again after the end: still the end, and the bytes held stay.
        let held = buf.clone();
        assert_eq!(r.next_into(&mut buf, at..end).unwrap(), None);
        assert_eq!(buf, held);
        out
    }

    /// A file of `len` bytes, and its bytes.
    fn test_file(len: usize) -> (File, Vec<u8>) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&bytes).unwrap();
        (f, bytes)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The bytes come out as the file holds them, whatever the number of threads, the
        /// block size (the file an exact number of blocks included) and the reads' size.
        #[test]
        fn reads_the_file_in_order(
            len in 0usize..2000,
            threads in 1usize..4,
            block in 1usize..100,
            chunk in 1usize..300,
        ) {
            let (f, bytes) = test_file(len);
            prop_assert_eq!(read_through(f, threads, block, chunk), bytes);
        }

        /// Taken block by block, with any part of each kept for the next (more than the room
        /// in front of a block included, which joins them in a buffer of its own), the bytes
        /// are the file's from `start` on. Blocks are read at offsets and addresses that are
        /// multiples of `align` (1, or powers of two as for direct I/O, whose blocks are a
        /// multiple of it): the bytes before `start` in the first block are left out.
        #[test]
        fn blocks_taken_in_place_give_the_file(
            len in 0usize..3000,
            threads in 1usize..4,
            start in 0u64..200,
            (align, block) in (0u32..6, 1usize..100)
                .prop_map(|(a, b)| (1usize << a, b.next_multiple_of(1 << a))),
            headroom in 0usize..50,
            takes in prop::collection::vec(0usize..150, 1..20),
        ) {
            let (f, bytes) = test_file(len);
            let from = (start as usize).min(len);
            prop_assert_eq!(
                take_through(f, threads, (start, align), block, headroom, &takes),
                bytes[from..].to_vec()
            );
        }
    }

    #[test]
    fn a_reader_dropped_early_stops_its_threads() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[7; 10_000]).unwrap();
        let mut r = ReadAhead::with_block(f, 2, 0, 10, 0, 1).unwrap();
        let mut buf = [0; 15];
        assert_eq!(r.read(&mut buf).unwrap(), 10);
        // The threads, blocked on full queues, end when the queues go: the drop waits for
        // them, so it returns only if they did.
        drop(r);
    }
}
