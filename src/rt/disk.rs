//! The disk seam: every byte oxcd persists outside the backend goes through
//! [`Disk`]. Production uses [`FsDisk`] (real files, `fdatasync`); the
//! simulator uses [`SimDisk`], which keeps writes volatile until `sync` and,
//! on a simulated crash, drops unsynced data and may tear the last write at a
//! sector boundary (like TigerBeetle's testing storage or FoundationDB's
//! `AsyncFileNonDurable`).
//!
//! Files are append-only logs, replaced whole when the WAL is compacted.
//! Space can be reserved past a log's end ([`Disk::reserve`]), as etcd
//! preallocates its WAL segments: an fdatasync after an append that grows
//! the file must also commit the new size through the filesystem's journal,
//! one that writes into reserved space need not (on this machine's ext4,
//! 112 µs against 168 µs at the median for a 300-byte record). Reading such
//! a file returns the reserved space as zeros after the last append.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Append-only file storage.
pub trait Disk: Send + Sync + 'static {
    /// Whole contents of `path`, or `None` if it does not exist.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// Appends to `path`, creating it. Not durable until [`Disk::sync`].
    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Reserves `bytes` past the end of `path` (which must exist), and as
    /// much again each time the appends reach the end of the reservation.
    /// Reads then return zeros past the last append; a cut or a
    /// replacement drops the reservation.
    fn reserve(&self, path: &Path, bytes: u64) -> io::Result<()>;
    /// Makes every earlier append to `path` durable.
    fn sync(&self, path: &Path) -> io::Result<()>;
    /// Cuts `path` to `len` bytes (durably).
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Atomically and durably replaces `path` with `data`: after a crash the
    /// file holds either its old contents or all of `data`.
    fn replace(&self, path: &Path, data: &[u8]) -> io::Result<()>;
}

/// Real files.
#[derive(Default)]
pub struct FsDisk {
    open: Mutex<HashMap<PathBuf, OpenFile>>,
}

struct OpenFile {
    file: std::fs::File,
    /// Where the next append goes.
    end: u64,
    /// The file's length: `end` plus the reserved zeros.
    len: u64,
    /// What [`Disk::reserve`] asked for (0: nothing reserved).
    chunk: u64,
}

impl OpenFile {
    /// Allocates `bytes` of zeros past `end`, durably, if not yet there.
    fn allocate(&mut self, bytes: u64) -> io::Result<()> {
        if self.end + bytes <= self.len {
            return Ok(());
        }
        #[cfg(all(target_os = "linux", not(madsim)))]
        {
            use std::os::fd::AsRawFd;
            let (off, n) = (self.end as libc::off_t, bytes as libc::off_t);
            // SAFETY: fallocate on a descriptor this struct owns; mode 0
            // allocates and extends the file with zeros.
            if unsafe { libc::fallocate(self.file.as_raw_fd(), 0, off, n) } != 0 {
                let e = io::Error::last_os_error();
                // A filesystem without fallocate: append as before.
                if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
                    self.chunk = 0;
                    return Ok(());
                }
                return Err(e);
            }
        }
        // Elsewhere (and in a simulator build, which has no libc and does
        // not use real files) the file is only extended, sparsely.
        #[cfg(not(all(target_os = "linux", not(madsim))))]
        self.file.set_len(self.end + bytes)?;
        self.file.sync_all()?;
        self.len = self.end + bytes;
        Ok(())
    }
}

impl FsDisk {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_file<T>(
        &self,
        path: &Path,
        f: impl FnOnce(&mut OpenFile) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut open = self.open.lock().expect("disk lock");
        if !open.contains_key(path) {
            // Not O_APPEND: appends go to `end`, before reserved space.
            let file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(path)?;
            let len = file.metadata()?.len();
            let opened = OpenFile {
                file,
                end: len,
                len,
                chunk: 0,
            };
            open.insert(path.to_path_buf(), opened);
        }
        f(open.get_mut(path).expect("just inserted"))
    }
}

impl Disk for FsDisk {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match std::fs::File::open(path) {
            Ok(mut f) => {
                let mut buf = Vec::new();
                f.read_to_end(&mut buf)?;
                Ok(Some(buf))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.with_file(path, |f| {
            let n = data.len() as u64;
            if f.chunk > 0 && f.end + n > f.len {
                f.allocate(n + f.chunk)?;
            }
            f.file.write_all_at(data, f.end)?;
            f.end += n;
            f.len = f.len.max(f.end);
            Ok(())
        })
    }

    fn reserve(&self, path: &Path, bytes: u64) -> io::Result<()> {
        self.with_file(path, |f| {
            f.chunk = bytes;
            f.allocate(bytes)
        })
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        self.with_file(path, |f| f.file.sync_data())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.with_file(path, |f| {
            f.file.set_len(len)?;
            f.file.sync_all()?;
            (f.end, f.len, f.chunk) = (len, len, 0);
            Ok(())
        })
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn replace(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut open = self.open.lock().expect("disk lock");
        open.remove(path);
        let tmp = path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// Size of the unit a torn write is cut at.
pub const SECTOR_BYTES: usize = 512;

#[derive(Default, Clone)]
struct SimFile {
    /// What was appended (reserved zeros not included).
    data: Vec<u8>,
    /// Prefix of `data` that survives a crash.
    synced_len: usize,
    /// Where the reserved zeros end (durable, as `FsDisk::reserve` syncs
    /// them); below `data.len()` when nothing is reserved, and a read is
    /// never shorter than `data`.
    len: usize,
    /// What [`Disk::reserve`] asked for.
    chunk: usize,
}

/// In-memory disk with crash semantics, shared between a simulated node's
/// incarnations (the harness keeps it across kill and restart).
#[derive(Default, Clone)]
pub struct SimDisk {
    /// Ordered (not a `HashMap`): a crash draws a torn length per file in
    /// this order, which a replay of the seed must repeat.
    files: Arc<Mutex<BTreeMap<PathBuf, SimFile>>>,
}

impl SimDisk {
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates power loss: every file loses its unsynced tail, except for a
    /// prefix of whole sectors chosen by `pick(max_sectors)` (a torn write).
    pub fn crash(&self, mut pick: impl FnMut(usize) -> usize) {
        let mut files = self.files.lock().expect("disk lock");
        for f in files.values_mut() {
            let unsynced = f.data.len() - f.synced_len;
            let sectors = unsynced.div_ceil(SECTOR_BYTES);
            let keep_sectors = if sectors == 0 { 0 } else { pick(sectors) };
            let keep = (keep_sectors * SECTOR_BYTES).min(unsynced);
            f.data.truncate(f.synced_len + keep);
            f.synced_len = f.data.len();
        }
    }

    /// Total unsynced bytes (for tests).
    pub fn unsynced_bytes(&self) -> usize {
        let files = self.files.lock().expect("disk lock");
        files.values().map(|f| f.data.len() - f.synced_len).sum()
    }
}

impl Disk for SimDisk {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let files = self.files.lock().expect("disk lock");
        Ok(files.get(path).map(|f| {
            let mut data = f.data.clone();
            data.resize(f.len.max(data.len()), 0);
            data
        }))
    }

    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut files = self.files.lock().expect("disk lock");
        let f = files.entry(path.to_path_buf()).or_default();
        f.data.extend_from_slice(data);
        if f.chunk > 0 && f.data.len() > f.len {
            f.len = f.data.len() + f.chunk;
        }
        Ok(())
    }

    fn reserve(&self, path: &Path, bytes: u64) -> io::Result<()> {
        let mut files = self.files.lock().expect("disk lock");
        let f = files.entry(path.to_path_buf()).or_default();
        f.chunk = bytes as usize;
        f.len = f.len.max(f.data.len() + f.chunk);
        Ok(())
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        let mut files = self.files.lock().expect("disk lock");
        if let Some(f) = files.get_mut(path) {
            f.synced_len = f.data.len();
        }
        Ok(())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut files = self.files.lock().expect("disk lock");
        let f = files.entry(path.to_path_buf()).or_default();
        f.data.truncate(len as usize);
        f.synced_len = f.data.len();
        (f.len, f.chunk) = (f.data.len(), 0);
        Ok(())
    }

    fn create_dir_all(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }

    fn replace(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut files = self.files.lock().expect("disk lock");
        files.insert(
            path.to_path_buf(),
            SimFile {
                data: data.to_vec(),
                synced_len: data.len(),
                len: data.len(),
                chunk: 0,
            },
        );
        Ok(())
    }
}

/// Whether another process holds an exclusive lock (`flock`) on the file at
/// `path`, as a running server holds sled's; `false` if it cannot be
/// opened. Never in the simulator, which has no other processes.
pub fn locked_elsewhere(path: &Path) -> bool {
    #[cfg(not(madsim))]
    {
        use std::os::fd::AsRawFd;
        let Ok(file) = std::fs::File::open(path) else {
            return false;
        };
        // SAFETY: flock on a descriptor this function owns; closing it (at
        // the end of the scope) releases the lock.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        rc != 0
    }
    #[cfg(madsim)]
    {
        let _ = path;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_disk_loses_unsynced_data_on_crash() {
        let d = SimDisk::new();
        let p = Path::new("wal");
        d.append(p, b"durable").unwrap();
        d.sync(p).unwrap();
        d.append(p, &[7u8; 1500]).unwrap();
        d.crash(|_| 0);
        assert_eq!(d.read(p).unwrap().unwrap(), b"durable");
    }

    #[test]
    fn fs_disk_appends_into_reserved_space() {
        let dir = std::env::temp_dir().join(format!("oxcd-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("log");
        let _ = std::fs::remove_file(&p);
        let d = FsDisk::new();
        d.append(&p, b"abc").unwrap();
        d.reserve(&p, 4096).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 3 + 4096);
        d.append(&p, b"def").unwrap();
        d.sync(&p).unwrap();
        let mut want = b"abcdef".to_vec();
        want.resize(3 + 4096, 0);
        assert_eq!(d.read(&p).unwrap().unwrap(), want);
        // Past the reservation: as much again is reserved after the append.
        d.append(&p, &[7; 5000]).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 6 + 5000 + 4096);
        // Another process (a restart) reads the appends, then zeros.
        let read = FsDisk::new().read(&p).unwrap().unwrap();
        assert_eq!(&read[..6], b"abcdef");
        assert_eq!(&read[6..5006], &[7; 5000][..]);
        assert!(read[5006..].iter().all(|&b| b == 0));
        // A cut drops the reservation; appends go on at the cut.
        d.truncate(&p, 6).unwrap();
        d.append(&p, b"g").unwrap();
        assert_eq!(FsDisk::new().read(&p).unwrap().unwrap(), b"abcdefg");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sim_disk_crash_leaves_reserved_zeros() {
        let d = SimDisk::new();
        let p = Path::new("wal");
        d.append(p, b"durable").unwrap();
        d.reserve(p, 1024).unwrap();
        d.sync(p).unwrap();
        d.append(p, &[7u8; 600]).unwrap();
        d.crash(|_| 1); // the first unsynced sector survives
        let read = d.read(p).unwrap().unwrap();
        assert_eq!(read.len(), 7 + 1024);
        assert_eq!(&read[..7], b"durable");
        assert_eq!(&read[7..7 + SECTOR_BYTES], &[7u8; SECTOR_BYTES][..]);
        assert!(read[7 + SECTOR_BYTES..].iter().all(|&b| b == 0));
    }

    #[test]
    fn sim_disk_tears_at_sector_boundaries() {
        let d = SimDisk::new();
        let p = Path::new("wal");
        d.append(p, &[1u8; 1500]).unwrap();
        d.crash(|max| {
            assert_eq!(max, 3);
            1
        });
        assert_eq!(d.read(p).unwrap().unwrap().len(), SECTOR_BYTES);
    }
}
