//! The disk seam: every byte oxcd persists outside the backend goes through
//! [`Disk`]. Production uses [`FsDisk`] (real files, `fdatasync`); the
//! simulator uses [`SimDisk`], which keeps writes volatile until `sync` and,
//! on a simulated crash, drops unsynced data and may tear the last write at a
//! sector boundary (like TigerBeetle's testing storage or FoundationDB's
//! `AsyncFileNonDurable`).
//!
//! Files are append-only logs, replaced whole when the WAL is compacted.

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
    open: Mutex<HashMap<PathBuf, std::fs::File>>,
}

impl FsDisk {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_file<T>(
        &self,
        path: &Path,
        f: impl FnOnce(&mut std::fs::File) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut open = self.open.lock().expect("disk lock");
        if !open.contains_key(path) {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            open.insert(path.to_path_buf(), file);
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
        self.with_file(path, |f| f.write_all(data))
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        self.with_file(path, |f| f.sync_data())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.with_file(path, |f| {
            f.set_len(len)?;
            f.sync_all()
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
    data: Vec<u8>,
    /// Prefix of `data` that survives a crash.
    synced_len: usize,
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
        Ok(files.get(path).map(|f| f.data.clone()))
    }

    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut files = self.files.lock().expect("disk lock");
        files
            .entry(path.to_path_buf())
            .or_default()
            .data
            .extend_from_slice(data);
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
