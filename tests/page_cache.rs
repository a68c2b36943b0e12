//! The page-cache probe behind `--direct-io=auto`, on a real file: one just written is in the
//! page cache, and read through it; dropped from it, it is out, and read with direct I/O,
//! except on a file system that keeps files only in memory (tmpfs), where it stays in.
#![cfg(target_os = "linux")]

use std::fs::File;
use std::io::Write;

use finscope::capture::cache::{residency, LOCAL_DISK, PROBES};
use finscope::pipeline::DirectIo;
use rustix::fs::{fadvise, fstatfs, Advice};

/// `statfs`'s `f_type` for tmpfs.
const TMPFS_MAGIC: i64 = 0x0102_1994;

#[test]
fn the_probe_tells_a_cached_file_from_a_dropped_one() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("capture.pcap");
    let mut file = File::create(&path).unwrap();
    // 64 MiB, as much as auto needs: the probed pages are 4 MiB apart, beyond the kernel's
    // read-ahead around a probe that misses.
    let chunk: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 251) as u8).collect();
    for _ in 0..64 {
        file.write_all(&chunk).unwrap();
    }
    file.sync_all().unwrap();
    let name = path.to_str().unwrap();

    let warm = residency(name).expect("a regular file is probed");
    assert_eq!(warm.bytes, DirectIo::AUTO_MIN_BYTES);
    assert_eq!(warm.probed, PROBES);
    assert_eq!(
        warm.cached, PROBES,
        "a file just written is in the page cache"
    );
    assert_eq!(warm.cold_bytes(), 0);
    let paths = [name.to_string()];
    assert_eq!(DirectIo::auto(&paths), DirectIo::Off);

    // Written back by `sync_all`, so the kernel may drop its pages.
    fadvise(&file, 0, None, Advice::DontNeed).unwrap();
    let cold = residency(name).unwrap();
    let fs_type = fstatfs(&file).unwrap().f_type as u32;
    let in_memory = i64::from(fs_type) == TMPFS_MAGIC;
    assert_eq!(cold.local_disk, LOCAL_DISK.contains(&fs_type));
    if in_memory {
        assert_eq!(cold.cached, PROBES, "tmpfs keeps the file in memory");
        assert_eq!(DirectIo::auto(&paths), DirectIo::Off);
    } else {
        assert!(
            cold.cached < PROBES / 2,
            "dropped from the page cache, yet {} of {} pages found there",
            cold.cached,
            cold.probed
        );
        assert!(cold.cold_bytes() >= 32 << 20);
        // Out of the cache: direct I/O, where the file system takes it. (A probe that misses
        // has the kernel read the page, so the file is dropped again first.)
        fadvise(&file, 0, None, Advice::DontNeed).unwrap();
        let want = if cold.direct_io && cold.local_disk {
            DirectIo::Chosen
        } else {
            DirectIo::Off
        };
        assert_eq!(DirectIo::auto(&paths), want);
    }

    // Not regular files: nothing to probe.
    assert_eq!(residency("-"), None);
    assert_eq!(residency(dir.path().to_str().unwrap()), None);
    assert_eq!(residency(&format!("{name}.missing")), None);
}
