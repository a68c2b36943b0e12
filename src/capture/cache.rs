//! Whether a capture file is in the page cache, for choosing direct I/O when it is not: a file
//! that has to come from the disk anyway is read with less CPU, and no more time, with direct
//! I/O (docs/performance.md, "Captures out of the page cache"), which also leaves the host's
//! page cache alone.
//!
//! The probe reads one byte of each of [`PROBES`] pages spread over the file with `preadv2`'s
//! `RWF_NOWAIT`, which returns the byte when its page is cached and fails with `EAGAIN` when it
//! would have to wait for the disk. Linux then reads the page it did not have (on our machine
//! that page alone; at most the device's read-ahead window around it), so a probe of a cold
//! file brings a few pages of it into the cache, and a second probe finds them there.

/// Pages probed per file.
pub const PROBES: u32 = 16;

/// What the probe found for one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Residency {
    /// The file's size.
    pub bytes: u64,
    /// Pages probed, and of them those the page cache held.
    pub probed: u32,
    pub cached: u32,
    /// The file can be read with direct I/O (opened with `O_DIRECT`, and one aligned block
    /// read).
    pub direct_io: bool,
    /// The file is on a file system of a local disk ([`LOCAL_DISK`]), where direct I/O was
    /// measured to pay; on a network file system it may read slower than the kernel's own
    /// read-ahead.
    pub local_disk: bool,
}

/// `statfs` types of the file systems of local disks: ext2/3/4, XFS, Btrfs, F2FS, ZFS,
/// bcachefs, and overlayfs (a container's files, on one of those).
pub const LOCAL_DISK: [u32; 7] = [
    0xEF53,      // ext2, ext3, ext4
    0x5846_5342, // XFS
    0x9123_683E, // Btrfs
    0xF2F5_2010, // F2FS
    0x2FC1_2FC1, // ZFS
    0xCA45_1A4E, // bcachefs
    0x794C_7630, // overlayfs
];

impl Residency {
    /// The file's bytes estimated to be out of the page cache.
    pub fn cold_bytes(&self) -> u64 {
        if self.probed == 0 {
            return 0;
        }
        let cold = u128::from(self.probed - self.cached);
        (u128::from(self.bytes) * cold / u128::from(self.probed)) as u64
    }
}

/// Probes `path`: `None` for anything but a regular file that can be read, or where the kernel
/// cannot say (no `RWF_NOWAIT` for the file system, or not Linux).
#[cfg(target_os = "linux")]
pub fn residency(path: &str) -> Option<Residency> {
    use rustix::io::{preadv2, Errno, ReadWriteFlags};
    use std::io::IoSliceMut;

    // Looked at before it is opened: opening a named pipe would take it from its writer.
    let bytes = std::fs::metadata(path).ok().filter(|m| m.is_file())?.len();
    let file = std::fs::File::open(path).ok()?;
    let pages = bytes.div_ceil(super::ahead::DIRECT_ALIGN as u64);
    let probed = pages.min(u64::from(PROBES)) as u32;
    let mut cached = 0;
    for i in 0..u64::from(probed) {
        // The middle of each of `probed` equal parts of the file, on a page boundary.
        let page = (2 * i + 1) * pages / (2 * u64::from(probed));
        let mut byte = [0u8; 1];
        match preadv2(
            &file,
            &mut [IoSliceMut::new(&mut byte)],
            page * super::ahead::DIRECT_ALIGN as u64,
            ReadWriteFlags::NOWAIT,
        ) {
            Ok(_) => cached += 1,
            Err(Errno::AGAIN) => {}
            Err(_) => return None,
        }
    }
    let fs_type = rustix::fs::fstatfs(&file).map_or(0, |st| st.f_type as u32);
    Some(Residency {
        bytes,
        probed,
        cached,
        direct_io: super::reader::open_direct(path).is_ok(),
        local_disk: LOCAL_DISK.contains(&fs_type),
    })
}

#[cfg(not(target_os = "linux"))]
pub fn residency(_path: &str) -> Option<Residency> {
    None
}
