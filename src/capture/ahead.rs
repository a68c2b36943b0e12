//! Reading a file ahead on other threads. With several workers, the thread that walks the
//! records spends most of its time in the kernel's copy of the file into its buffer; here
//! `threads` threads read the file's blocks with positioned reads (block `b` by thread
//! `b mod threads`), and the reader takes the blocks in order, so the bytes it sees are those
//! a plain read gives, and only the copy out of a block (in the cache) is left to it.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;

/// Bytes per block: large enough that a read call is rare, small enough that a few blocks per
/// thread in flight cost little memory.
const BLOCK: usize = 1 << 20;
/// Blocks each thread may have read before the reader takes them.
const DEPTH: usize = 2;

/// A [`Read`] over a file whose blocks other threads read ahead.
pub(super) struct ReadAhead {
    /// Blocks from thread `t`, in its order.
    blocks: Vec<Receiver<io::Result<Vec<u8>>>>,
    /// Emptied blocks back to thread `t`.
    emptied: Vec<SyncSender<Vec<u8>>>,
    /// Blocks taken so far.
    index: usize,
    block_size: usize,
    block: Vec<u8>,
    pos: usize,
    /// The block being read is the file's last (it came short).
    last: bool,
    threads: Vec<thread::JoinHandle<()>>,
}

impl ReadAhead {
    /// Starts `threads` threads (at least 1) reading `file` from its start.
    pub(super) fn new(file: File, threads: usize) -> io::Result<ReadAhead> {
        ReadAhead::with_block(file, threads, BLOCK)
    }

    pub(super) fn with_block(file: File, threads: usize, block: usize) -> io::Result<ReadAhead> {
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
            handles.push(
                thread::Builder::new()
                    .name(format!("finscope-ahead{t}"))
                    .spawn(move || read_blocks(&file, t, threads, block, &block_tx, &empty_rx))?,
            );
            blocks.push(block_rx);
            emptied.push(empty_tx);
        }
        Ok(ReadAhead {
            blocks,
            emptied,
            index: 0,
            block_size: block,
            block: Vec::new(),
            pos: 0,
            // Nothing taken yet: the first read takes block 0.
            last: false,
            threads: handles,
        })
    }

    /// Takes the next block in order; `false` at the end of the file.
    fn next_block(&mut self) -> io::Result<bool> {
        if self.last {
            return Ok(false);
        }
        let threads = self.blocks.len();
        if self.index > 0 {
            let done = std::mem::take(&mut self.block);
            // The thread may be gone (it met the end); then the block is dropped.
            let _ = self.emptied[(self.index - 1) % threads].try_send(done);
        }
        let next = self.blocks[self.index % threads]
            .recv()
            .map_err(|_| io::Error::other("a read-ahead thread stopped"))??;
        self.index += 1;
        self.last = next.len() < self.block_size;
        self.block = next;
        self.pos = 0;
        Ok(!self.block.is_empty())
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pos == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
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

/// One read-ahead thread: blocks `first`, `first + step`, ... until one comes short (the end
/// of the file) or the reader is gone.
fn read_blocks(
    file: &File,
    first: usize,
    step: usize,
    block: usize,
    out: &SyncSender<io::Result<Vec<u8>>>,
    emptied: &Receiver<Vec<u8>>,
) {
    let mut fresh = DEPTH + 2;
    let mut index = first;
    loop {
        let mut buf = if fresh > 0 {
            fresh -= 1;
            Vec::with_capacity(block)
        } else {
            match emptied.recv() {
                Ok(b) => b,
                Err(_) => return,
            }
        };
        // A block given back is full already (only the last comes short, and its thread is
        // done then): only a new one is zeroed, not every block again before it is read into.
        buf.resize(block, 0);
        let at = (index as u64) * (block as u64);
        let read = read_at_full(file, &mut buf, at);
        let short = match read {
            Ok(n) => {
                buf.truncate(n);
                n < block
            }
            Err(_) => true,
        };
        if out.send(read.map(|_| buf)).is_err() || short {
            return;
        }
        index += step;
    }
}

/// Fills `buf` from offset `at`, short only at the end of the file.
fn read_at_full(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
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
        let mut r = ReadAhead::with_block(file, threads, block).unwrap();
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
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(&bytes).unwrap();
            prop_assert_eq!(read_through(f, threads, block, chunk), bytes);
        }
    }

    #[test]
    fn a_reader_dropped_early_stops_its_threads() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[7; 10_000]).unwrap();
        let mut r = ReadAhead::with_block(f, 2, 10).unwrap();
        let mut buf = [0; 15];
        assert_eq!(r.read(&mut buf).unwrap(), 10);
        // The threads, blocked on full queues, end when the queues go: the drop waits for
        // them, so it returns only if they did.
        drop(r);
    }
}
