//! The backend: durable home of the MVCC history and the *consistent index*
//! (index of the last raft entry whose effects are in it). Both are written in
//! one atomic batch, so replaying the WAL after a crash skips exactly the
//! entries already applied — the replay is idempotent.
//!
//! Production uses sled ([`SledBackend`]); the simulator uses [`MemBackend`],
//! which, like a real crash, loses every batch committed since its last
//! [`Backend::flush`].

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use prost::Message;

pub use super::schema::Loaded;
use super::schema::{decode_all, raw_writes, BackendOp, META_CONSISTENT_INDEX, META_SNAPSHOT};

/// A raft snapshot's payload: every backend pair, as of its index.
#[derive(Clone, PartialEq, Message)]
pub struct SnapshotData {
    #[prost(message, repeated, tag = "1")]
    pub pairs: Vec<Pair>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Pair {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// A key-value batch store with an atomic commit.
///
/// Sizes are counted as etcd's bbolt file behaves, and the same way on
/// every backend, so the quota acts alike in production and in the
/// simulator: the bytes in use are the live pairs' keys and values; the
/// size only grows, as a bbolt file does, until a defragmentation gives
/// the space back (or the member restarts: the count starts again from the
/// pairs in use).
pub trait Backend: Send + Sync + 'static {
    /// Atomically applies `ops` and records `consistent_index`.
    fn commit(&self, ops: &[BackendOp], consistent_index: u64) -> io::Result<()>;
    /// Makes every earlier commit durable.
    fn flush(&self) -> io::Result<()>;
    /// Reads everything back.
    fn load(&self) -> io::Result<Loaded>;
    /// The backend's size (etcd's db size): the most bytes in use since it
    /// opened or was last defragmented.
    fn size_bytes(&self) -> u64;
    /// The bytes the live pairs take (etcd's db size in use).
    fn size_in_use(&self) -> u64;
    /// Every raw pair, for a snapshot.
    fn dump(&self) -> io::Result<Vec<Pair>>;
    /// Atomically and durably replaces the whole contents with `pairs`.
    fn replace_all(&self, pairs: Vec<Pair>) -> io::Result<()>;
    /// A point-in-time view of every pair as of the last commit. Taking it
    /// is cheap and commits go on while it is read (copy-on-write: a
    /// commit first saves what it overwrites for every open checkpoint).
    fn checkpoint(&self) -> Checkpoint;
    /// etcd's defragmentation: the backend's storage is rewritten with only
    /// the live pairs, and the size falls to the size in use.
    fn defragment(&self) -> io::Result<()>;

    /// Installs a snapshot taken at raft entry `(index, term)`: the contents
    /// are replaced and the install recorded, durably.
    fn install_snapshot(&self, mut pairs: Vec<Pair>, index: u64, term: u64) -> io::Result<()> {
        pairs.retain(|p| p.key != META_SNAPSHOT && p.key != META_CONSISTENT_INDEX);
        pairs.push(Pair {
            key: META_SNAPSHOT.to_vec(),
            value: [index.to_be_bytes(), term.to_be_bytes()].concat(),
        });
        pairs.push(Pair {
            key: META_CONSISTENT_INDEX.to_vec(),
            value: index.to_be_bytes().to_vec(),
        });
        self.replace_all(pairs)
    }
}

/// Bytes in use and the high-water mark (see [`Backend`]).
#[derive(Clone, Copy, Debug, Default)]
struct Sizes {
    in_use: u64,
    high: u64,
}

impl Sizes {
    fn of<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Sizes {
        let in_use = pairs.map(|(k, v)| (k.len() + v.len()) as u64).sum();
        Sizes {
            in_use,
            high: in_use,
        }
    }

    /// After a commit that added `added` and removed `removed` bytes.
    fn change(&mut self, added: u64, removed: u64) {
        self.in_use = (self.in_use + added).saturating_sub(removed);
        self.high = self.high.max(self.in_use);
    }
}

/// What a commit saves for an open checkpoint: each key's value as of the
/// checkpoint (`None`: it did not exist), on the key's first change.
type Undo = Mutex<BTreeMap<Vec<u8>, Option<Vec<u8>>>>;

/// A point-in-time view of a backend (see [`Backend::checkpoint`]).
pub struct Checkpoint(CheckpointView);

enum CheckpointView {
    /// The pairs themselves (the in-memory backend copies them).
    Pairs(Vec<Pair>),
    /// The sled generation it was taken on, and what commits since changed
    /// in it. A defragmentation retires that generation: it changes no
    /// more, and its directory goes when the last checkpoint on it is read.
    Sled {
        gen: Arc<Generation>,
        undo: Arc<Undo>,
    },
}

impl Checkpoint {
    /// Every pair as of the checkpoint, in key order. May take a while on
    /// a large backend: call it off the raft loop.
    pub fn pairs(self) -> io::Result<Vec<Pair>> {
        match self.0 {
            CheckpointView::Pairs(p) => Ok(p),
            CheckpointView::Sled { gen, undo } => {
                let mut all = BTreeMap::new();
                for r in gen.db().iter() {
                    let (k, v) = r.map_err(io::Error::other)?;
                    all.insert(k.to_vec(), v.to_vec());
                }
                // Read after the scan: every key the scan may have seen
                // changed was saved here before it changed.
                let undo = undo.lock().expect("checkpoint lock");
                for (k, v) in undo.iter() {
                    match v {
                        Some(v) => all.insert(k.clone(), v.clone()),
                        None => all.remove(k),
                    };
                }
                Ok(all
                    .into_iter()
                    .map(|(key, value)| Pair { key, value })
                    .collect())
            }
        }
    }
}

/// One sled directory of a [`SledBackend`]. The backend's first generation
/// is the directory it was opened at, `<path>`; each defragmentation writes
/// the next one beside it (`<path>.1`, `<path>.2`, …) and names it in
/// `<path>.current`. That file is written aside and renamed into place, so
/// a crash leaves either the old generation current or the new one, never
/// a directory half renamed; opening removes every other generation.
///
/// A retired generation's directory is removed when its last holder lets
/// go (the backend, or a checkpoint still being read), after sled is
/// closed: sled's threads write into the directory by path until then.
struct Generation {
    /// `Some` until dropped.
    db: Option<sled::Db>,
    number: u64,
    dir: PathBuf,
    /// Remove the directory when dropped: superseded by a newer
    /// generation, or a new one that was never switched to.
    retired: AtomicBool,
}

impl Generation {
    fn open(path: &Path, number: u64) -> io::Result<Generation> {
        let dir = generation_dir(path, number);
        let db = sled::Config::new()
            .path(&dir)
            .flush_every_ms(Some(100))
            .cache_capacity(SLED_CACHE_BYTES)
            .open()
            .map_err(io::Error::other)?;
        Ok(Generation {
            db: Some(db),
            number,
            dir,
            retired: AtomicBool::new(false),
        })
    }

    fn db(&self) -> &sled::Db {
        self.db
            .as_ref()
            .expect("a generation is open until dropped")
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        // Closing sled stops its threads for this tree first.
        drop(self.db.take());
        if *self.retired.get_mut() {
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                // The next open removes it.
                tracing::warn!(dir = %self.dir.display(), "cannot remove a retired backend directory: {e}");
            }
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn generation_dir(path: &Path, number: u64) -> PathBuf {
    match number {
        0 => path.to_path_buf(),
        n => with_suffix(path, &format!(".{n}")),
    }
}

/// The generation `<path>.current` names; 0 without one.
fn current_generation(path: &Path) -> io::Result<u64> {
    match std::fs::read_to_string(with_suffix(path, ".current")) {
        Ok(s) => s.trim().parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}.current: not a generation: {s:?}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Makes a directory's entries durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The generation a directory entry named `entry` is of a backend named
/// `name`: 0 for `name` itself, N for `name.N`; `None` for anything else.
fn generation_of(name: &str, entry: &str) -> Option<u64> {
    if entry == name {
        return Some(0);
    }
    entry
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| *n > 0)
}

/// The directory of the current generation of the backend at `path`
/// (the first one if `<path>.current` cannot be read).
fn current_dir(path: &Path) -> PathBuf {
    generation_dir(path, current_generation(path).unwrap_or(0))
}

/// Removes what an interrupted defragmentation or a retired generation
/// left beside the current one.
fn remove_other_generations(path: &Path, current: u64) -> io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let name = name.to_string_lossy();
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    for entry in std::fs::read_dir(parent)? {
        let entry = entry?;
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        let number = generation_of(&name, &entry_name);
        if number.is_some_and(|n| n != current) {
            std::fs::remove_dir_all(entry.path())?;
        } else if entry_name == format!("{name}.current.tmp") {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// sled, on a real directory (see [`Generation`] for its layout).
pub struct SledBackend {
    path: PathBuf,
    gen: RwLock<Arc<Generation>>,
    /// The open checkpoints. A commit holds this lock, so a checkpoint is
    /// taken between two commits, and a defragmentation switches
    /// generations between two commits.
    checkpoints: Mutex<Vec<Weak<Undo>>>,
    sizes: Mutex<Sizes>,
    /// One defragmentation at a time.
    defrag: Mutex<()>,
}

/// sled's page cache. Its default, 1 GiB, kept a second copy of the key
/// space in memory: every request is served from the state in memory, and
/// the backend is only written, read back at start-up and scanned for
/// snapshots, so its cache holds little worth keeping.
const SLED_CACHE_BYTES: u64 = 16 << 20;

/// Above this many bytes, a defragmentation's copy goes to sled in a
/// batch of its own.
const DEFRAG_BATCH_BYTES: usize = 4 << 20;

impl SledBackend {
    /// Opens the backend at `path`, in its current generation, and removes
    /// the others.
    pub fn open(path: &Path) -> io::Result<Self> {
        let number = current_generation(path)?;
        // sled's lock is taken first: nothing is removed under a server.
        let gen = Generation::open(path, number)?;
        remove_other_generations(path, number)?;
        let mut sizes = Sizes::default();
        for r in gen.db().iter() {
            let (k, v) = r.map_err(io::Error::other)?;
            sizes.change((k.len() + v.len()) as u64, 0);
        }
        Ok(SledBackend {
            path: path.to_path_buf(),
            gen: RwLock::new(Arc::new(gen)),
            checkpoints: Default::default(),
            sizes: Mutex::new(sizes),
            defrag: Mutex::new(()),
        })
    }

    /// Whether a backend exists at `path`.
    pub fn exists(path: &Path) -> bool {
        current_dir(path).is_dir()
    }

    /// Whether another process has the backend at `path` open (sled's
    /// exclusive lock on its `db` file, in the current generation).
    pub fn held_elsewhere(path: &Path) -> bool {
        crate::rt::disk::locked_elsewhere(&current_dir(path).join("db"))
    }

    fn current(&self) -> Arc<Generation> {
        self.gen.read().expect("backend lock").clone()
    }

    /// Writes the next generation from `old` while commits go on, then
    /// holds them for the keys they changed meanwhile, and switches.
    fn rewrite(&self, old: &Generation) -> io::Result<()> {
        let new = Generation::open(&self.path, old.number + 1)?;
        // Until the switch, dropping it removes it.
        new.retired.store(true, Ordering::Relaxed);
        // The keys commits change from here on, as a checkpoint's.
        let changed: Arc<Undo> = Default::default();
        self.checkpoints
            .lock()
            .expect("backend lock")
            .push(Arc::downgrade(&changed));
        let (mut batch, mut bytes) = (sled::Batch::default(), 0);
        for r in old.db().iter() {
            let (k, v) = r.map_err(io::Error::other)?;
            bytes += k.len() + v.len();
            batch.insert(k, v);
            if bytes >= DEFRAG_BATCH_BYTES {
                new.db()
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(io::Error::other)?;
                bytes = 0;
            }
        }
        new.db().apply_batch(batch).map_err(io::Error::other)?;
        new.db().flush().map_err(io::Error::other)?;
        // Commits wait from here: what the scan may have missed.
        let mut checkpoints = self.checkpoints.lock().expect("backend lock");
        let mut batch = sled::Batch::default();
        for k in changed.lock().expect("checkpoint lock").keys() {
            match old.db().get(k).map_err(io::Error::other)? {
                Some(v) => batch.insert(&k[..], v),
                None => batch.remove(&k[..]),
            }
        }
        new.db().apply_batch(batch).map_err(io::Error::other)?;
        new.db().flush().map_err(io::Error::other)?;
        sync_dir(&new.dir)?;
        let parent = new.dir.parent().unwrap_or(Path::new("."));
        sync_dir(parent)?;
        // The switch: `<path>.current` names the new generation.
        let current = with_suffix(&self.path, ".current");
        let tmp = with_suffix(&self.path, ".current.tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            writeln!(f, "{}", new.number)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &current)?;
        new.retired.store(false, Ordering::Relaxed);
        // The old generation changes no more: its checkpoints need no
        // more saving, and it goes with its last holder.
        checkpoints.clear();
        old.retired.store(true, Ordering::Relaxed);
        let synced = sync_dir(parent);
        *self.gen.write().expect("backend lock") = Arc::new(new);
        let mut sizes = self.sizes.lock().expect("backend lock");
        sizes.high = sizes.in_use;
        drop(checkpoints);
        synced
    }
}

/// Whether a write's key cannot exist yet: a new revision's (each revision
/// is written once), so a commit need not read what it overwrites.
fn is_fresh(key: &[u8], value: &Option<Vec<u8>>) -> bool {
    key.first() == Some(&b'k') && value.is_some()
}

impl Backend for SledBackend {
    fn commit(&self, ops: &[BackendOp], consistent_index: u64) -> io::Result<()> {
        let mut checkpoints = self.checkpoints.lock().expect("backend lock");
        let gen = self.current();
        let db = gen.db();
        checkpoints.retain(|c| c.strong_count() > 0);
        let undos: Vec<Arc<Undo>> = checkpoints.iter().filter_map(Weak::upgrade).collect();
        let mut batch = sled::Batch::default();
        // The length of each key's value as of its last change in this
        // batch (`None`: deleted). A key's first change reads what it held
        // before the batch, for the sizes and the open checkpoints; later
        // changes find it here. Lengths only: each value is copied once,
        // into sled's batch.
        let mut changed: HashMap<sled::IVec, Option<usize>> = HashMap::new();
        let (mut added, mut removed) = (0u64, 0u64);
        for (k, v) in raw_writes(ops, consistent_index) {
            let old = match changed.get(&k[..]) {
                Some(len) => *len,
                None => {
                    let old = if is_fresh(&k, &v) {
                        None
                    } else {
                        db.get(&k).map_err(io::Error::other)?
                    };
                    for undo in &undos {
                        undo.lock()
                            .expect("checkpoint lock")
                            .entry(k.clone())
                            .or_insert_with(|| old.as_ref().map(|o| o.to_vec()));
                    }
                    old.map(|o| o.len())
                }
            };
            removed += old.map_or(0, |o| (k.len() + o) as u64);
            added += v.as_ref().map_or(0, |n| (k.len() + n.len()) as u64);
            let key = sled::IVec::from(k);
            changed.insert(key.clone(), v.as_ref().map(Vec::len));
            match v {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            }
        }
        db.apply_batch(batch).map_err(io::Error::other)?;
        self.sizes
            .lock()
            .expect("backend lock")
            .change(added, removed);
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        self.current()
            .db()
            .flush()
            .map(|_| ())
            .map_err(io::Error::other)
    }

    fn load(&self) -> io::Result<Loaded> {
        let gen = self.current();
        let items: Vec<(sled::IVec, sled::IVec)> = gen
            .db()
            .iter()
            .collect::<Result<_, _>>()
            .map_err(io::Error::other)?;
        // Keys sort as: `k…` (revisions ascending) before `m/…`.
        decode_all(items.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
    }

    fn size_bytes(&self) -> u64 {
        self.sizes.lock().expect("backend lock").high
    }

    fn size_in_use(&self) -> u64 {
        self.sizes.lock().expect("backend lock").in_use
    }

    fn dump(&self) -> io::Result<Vec<Pair>> {
        self.current()
            .db()
            .iter()
            .map(|r| {
                r.map(|(k, v)| Pair {
                    key: k.to_vec(),
                    value: v.to_vec(),
                })
                .map_err(io::Error::other)
            })
            .collect()
    }

    fn replace_all(&self, pairs: Vec<Pair>) -> io::Result<()> {
        // One batch removes the old keys and writes the new: atomic. It is
        // a commit like any other for the open checkpoints.
        let checkpoints = self.checkpoints.lock().expect("backend lock");
        let gen = self.current();
        let db = gen.db();
        let undos: Vec<Arc<Undo>> = checkpoints.iter().filter_map(Weak::upgrade).collect();
        let mut batch = sled::Batch::default();
        for r in db.iter() {
            let (k, v) = r.map_err(io::Error::other)?;
            for undo in &undos {
                undo.lock()
                    .expect("checkpoint lock")
                    .entry(k.to_vec())
                    .or_insert_with(|| Some(v.to_vec()));
            }
            batch.remove(k);
        }
        for p in &pairs {
            for undo in &undos {
                undo.lock()
                    .expect("checkpoint lock")
                    .entry(p.key.clone())
                    .or_insert(None);
            }
        }
        let sizes = Sizes::of(pairs.iter().map(|p| (&p.key[..], &p.value[..])));
        for p in pairs {
            batch.insert(p.key, p.value);
        }
        db.apply_batch(batch).map_err(io::Error::other)?;
        *self.sizes.lock().expect("backend lock") = sizes;
        db.flush().map(|_| ()).map_err(io::Error::other)
    }

    fn checkpoint(&self) -> Checkpoint {
        let undo: Arc<Undo> = Default::default();
        let mut checkpoints = self.checkpoints.lock().expect("backend lock");
        checkpoints.push(Arc::downgrade(&undo));
        Checkpoint(CheckpointView::Sled {
            gen: self.current(),
            undo,
        })
    }

    /// etcd's defragmentation, as bbolt's: the live pairs are copied into
    /// a fresh sled directory, which replaces the old one (see
    /// [`Generation`]). Commits go on during the copy and wait only while
    /// the keys they changed meanwhile are copied again and the new
    /// directory is made durable and current.
    fn defragment(&self) -> io::Result<()> {
        let _one = self.defrag.lock().expect("backend lock");
        let old = self.current();
        self.rewrite(&old)
    }
}

#[derive(Default)]
struct MemState {
    durable: BTreeMap<Vec<u8>, Vec<u8>>,
    current: BTreeMap<Vec<u8>, Vec<u8>>,
    sizes: Sizes,
}

impl MemState {
    fn recount(&mut self) {
        let high = self.sizes.high;
        self.sizes = Sizes::of(self.current.iter().map(|(k, v)| (&k[..], &v[..])));
        self.sizes.high = self.sizes.high.max(high);
    }
}

/// In-memory backend with crash semantics, shared across a simulated node's
/// incarnations.
#[derive(Default, Clone)]
pub struct MemBackend {
    state: Arc<Mutex<MemState>>,
}

impl MemBackend {
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates a crash: commits since the last flush are lost, and the
    /// size counts again from the pairs, as a restarted member's does.
    pub fn crash(&self) {
        let mut s = self.state.lock().expect("backend lock");
        s.current = s.durable.clone();
        s.sizes = Sizes::default();
        s.recount();
    }
}

impl Backend for MemBackend {
    fn commit(&self, ops: &[BackendOp], consistent_index: u64) -> io::Result<()> {
        let mut s = self.state.lock().expect("backend lock");
        let (mut added, mut removed) = (0u64, 0u64);
        for (k, v) in raw_writes(ops, consistent_index) {
            added += v.as_ref().map_or(0, |v| (k.len() + v.len()) as u64);
            let klen = k.len();
            let old = match v {
                Some(v) => s.current.insert(k, v),
                None => s.current.remove(&k),
            };
            removed += old.map_or(0, |o| (klen + o.len()) as u64);
        }
        s.sizes.change(added, removed);
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        let mut s = self.state.lock().expect("backend lock");
        s.durable = s.current.clone();
        Ok(())
    }

    fn load(&self) -> io::Result<Loaded> {
        let s = self.state.lock().expect("backend lock");
        decode_all(s.current.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
    }

    fn size_bytes(&self) -> u64 {
        self.state.lock().expect("backend lock").sizes.high
    }

    fn size_in_use(&self) -> u64 {
        self.state.lock().expect("backend lock").sizes.in_use
    }

    fn dump(&self) -> io::Result<Vec<Pair>> {
        let s = self.state.lock().expect("backend lock");
        Ok(s.current
            .iter()
            .map(|(k, v)| Pair {
                key: k.clone(),
                value: v.clone(),
            })
            .collect())
    }

    fn replace_all(&self, pairs: Vec<Pair>) -> io::Result<()> {
        let mut s = self.state.lock().expect("backend lock");
        s.current = pairs.into_iter().map(|p| (p.key, p.value)).collect();
        s.durable = s.current.clone();
        s.sizes = Sizes::default();
        s.recount();
        Ok(())
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint(CheckpointView::Pairs(
            self.dump().expect("the in-memory backend reads"),
        ))
    }

    fn defragment(&self) -> io::Result<()> {
        let mut s = self.state.lock().expect("backend lock");
        s.sizes.high = s.sizes.in_use;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::Revision;
    use crate::pb::mvccpb::KeyValue;

    fn put(main: i64, key: &str) -> BackendOp {
        BackendOp::PutRev {
            rev: Revision::new(main, 0),
            tombstone: false,
            kv: KeyValue {
                key: key.into(),
                mod_revision: main,
                ..Default::default()
            },
        }
    }

    #[test]
    fn mem_backend_loses_unflushed_commits_on_crash() {
        let b = MemBackend::new();
        b.commit(&[put(2, "a")], 5).unwrap();
        b.flush().unwrap();
        b.commit(&[put(3, "b")], 6).unwrap();
        b.crash();
        let l = b.load().unwrap();
        assert_eq!(l.consistent_index, 5);
        assert_eq!(l.revs.len(), 1);
    }

    #[test]
    fn installed_snapshot_replaces_everything_durably() {
        let src = MemBackend::new();
        src.commit(&[put(2, "a"), put(3, "b")], 40).unwrap();
        let dst = MemBackend::new();
        dst.commit(&[put(2, "old")], 5).unwrap();
        dst.install_snapshot(src.dump().unwrap(), 40, 3).unwrap();
        dst.crash();
        let l = dst.load().unwrap();
        assert_eq!((l.consistent_index, l.snapshot), (40, Some((40, 3))));
        let keys: Vec<_> = l.revs.iter().map(|r| r.2.key.clone()).collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()]);
    }

    fn sled_dir(label: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("oxcd-sled-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn keys(pairs: &[Pair]) -> Vec<String> {
        pairs
            .iter()
            .filter(|p| p.key.starts_with(b"k"))
            .map(|p| String::from_utf8_lossy(&KeyValue::decode(&p.value[..]).unwrap().key).into())
            .collect()
    }

    /// A checkpoint shows the pairs as of the commit before it, whatever
    /// commits, deletes and replacements follow while it is open.
    #[test]
    fn checkpoints_are_points_in_time() {
        let dir = sled_dir("checkpoint");
        let sled = SledBackend::open(&dir).unwrap();
        let mem = MemBackend::new();
        for b in [&sled as &dyn Backend, &mem] {
            b.commit(&[put(2, "a"), put(3, "b")], 5).unwrap();
            let cp = b.checkpoint();
            b.commit(
                &[
                    put(4, "c"),
                    BackendOp::DeleteRev {
                        rev: Revision::new(2, 0),
                        tombstone: false,
                    },
                ],
                6,
            )
            .unwrap();
            let later = b.checkpoint();
            b.replace_all(vec![]).unwrap();
            let pairs = cp.pairs().unwrap();
            assert_eq!(keys(&pairs), ["a", "b"]);
            let ci = pairs
                .iter()
                .find(|p| p.key == META_CONSISTENT_INDEX)
                .unwrap();
            assert_eq!(ci.value, 5u64.to_be_bytes());
            assert_eq!(keys(&later.pairs().unwrap()), ["b", "c"]);
            assert!(b.dump().unwrap().is_empty());
        }
        drop(sled);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Sizes: in use follows the pairs, the size only grows until a
    /// defragmentation; the data survives it.
    #[test]
    fn defragmentation_gives_space_back() {
        let dir = sled_dir("defrag");
        let big = |main: i64| BackendOp::PutRev {
            rev: Revision::new(main, 0),
            tombstone: false,
            kv: KeyValue {
                key: b"k".to_vec(),
                value: vec![7; 10_000],
                mod_revision: main,
                ..Default::default()
            },
        };
        let sled = SledBackend::open(&dir).unwrap();
        let mem = MemBackend::new();
        for b in [&sled as &dyn Backend, &mem] {
            for main in 2..12 {
                b.commit(&[big(main)], main as u64).unwrap();
            }
            let full = b.size_bytes();
            assert!(full > 100_000 && b.size_in_use() == full, "{full}");
            let gone: Vec<BackendOp> = (2..11)
                .map(|m| BackendOp::DeleteRev {
                    rev: Revision::new(m, 0),
                    tombstone: false,
                })
                .collect();
            b.commit(&gone, 20).unwrap();
            assert_eq!(b.size_bytes(), full);
            assert!(b.size_in_use() < 11_000, "{}", b.size_in_use());
            b.defragment().unwrap();
            assert_eq!(b.size_bytes(), b.size_in_use());
            assert_eq!(b.load().unwrap().revs.len(), 1);
        }
        drop(sled);
        remove_backend(&dir);
    }

    fn value_op(main: i64, key: &str, len: usize) -> BackendOp {
        BackendOp::PutRev {
            rev: Revision::new(main, 0),
            tombstone: false,
            kv: KeyValue {
                key: key.into(),
                value: vec![main as u8; len],
                mod_revision: main,
                ..Default::default()
            },
        }
    }

    fn delete_op(main: i64) -> BackendOp {
        BackendOp::DeleteRev {
            rev: Revision::new(main, 0),
            tombstone: false,
        }
    }

    fn generations(dir: &Path) -> Vec<String> {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut found: Vec<String> = std::fs::read_dir(dir.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| generation_of(&name, n).is_some())
            .collect();
        found.sort();
        found
    }

    /// On sled, defragmentation rewrites the directory while commits go
    /// on: every commit made before, during and after it is there, in
    /// memory and after a reopen; a checkpoint taken before still reads
    /// its point in time, and the retired directory goes when that
    /// checkpoint has been read.
    #[test]
    fn sled_defragmentation_rewrites_under_commits_and_checkpoints() {
        let dir = sled_dir("defrag-live");
        let sled = SledBackend::open(&dir).unwrap();
        let model = MemBackend::new();
        let both = |ops: &[BackendOp], ci: u64| {
            sled.commit(ops, ci).unwrap();
            model.commit(ops, ci).unwrap();
        };
        for main in 2..500 {
            both(&[value_op(main, "k", 1000)], main as u64);
        }
        // A compaction: all but the last 50 revisions go.
        let gone: Vec<BackendOp> = (2..450).map(delete_op).collect();
        both(&gone, 500);
        let at_checkpoint = model.dump().unwrap();
        let cp = sled.checkpoint();
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                // Commits until the defragmentations are over, and at
                // least 2,500 of them.
                let mut main = 501i64;
                while main < 3000 || !done.load(Ordering::Relaxed) {
                    let mut ops = vec![value_op(main, "k", 300)];
                    if main % 3 == 0 {
                        ops.push(delete_op(main - 40));
                    }
                    both(&ops, main as u64);
                    main += 1;
                }
            });
            for _ in 0..3 {
                sled.defragment().unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
        assert_eq!(sled.dump().unwrap(), model.dump().unwrap());
        assert_eq!(sled.size_in_use(), model.size_in_use());
        assert_eq!(
            generations(&dir),
            [
                dir.file_name().unwrap().to_string_lossy().into_owned(),
                format!("{}.3", dir.file_name().unwrap().to_string_lossy())
            ],
            "the first generation stays while a checkpoint holds it"
        );
        assert_eq!(cp.pairs().unwrap(), at_checkpoint);
        assert_eq!(generations(&dir).len(), 1, "{:?}", generations(&dir));
        sled.flush().unwrap();
        drop(sled);
        let reopened = SledBackend::open(&dir).unwrap();
        assert_eq!(reopened.dump().unwrap(), model.dump().unwrap());
        assert_eq!(
            reopened.load().unwrap().consistent_index,
            model.load().unwrap().consistent_index
        );
        drop(reopened);
        remove_backend(&dir);
    }

    /// Removes every generation of the backend at `dir`.
    fn remove_backend(dir: &Path) {
        for g in generations(dir) {
            std::fs::remove_dir_all(dir.parent().unwrap().join(g)).unwrap();
        }
        let _ = std::fs::remove_file(with_suffix(dir, ".current"));
    }

    /// A crash during a defragmentation leaves the old generation current
    /// (the new one is removed on open) or, once `.current` names the new
    /// one, the new one (the old one is removed).
    #[test]
    fn an_interrupted_defragmentation_is_undone_or_completed_on_open() {
        let dir = sled_dir("defrag-crash");
        let next = with_suffix(&dir, ".1");
        let _ = std::fs::remove_dir_all(&next);
        let _ = std::fs::remove_file(with_suffix(&dir, ".current"));
        let write = |path: &Path, key: &str| {
            let b = SledBackend::open(path).unwrap();
            b.commit(&[put(2, key)], 7).unwrap();
            b.flush().unwrap();
        };
        let stored = |path: &Path| keys(&SledBackend::open(path).unwrap().dump().unwrap());
        write(&dir, "old");
        // Killed while copying: `.current` was not written.
        write(&next, "half-copied");
        std::fs::write(with_suffix(&dir, ".current.tmp"), "1").unwrap();
        assert_eq!(stored(&dir), ["old"]);
        assert!(!next.exists() && !with_suffix(&dir, ".current.tmp").exists());
        // Killed after the switch, before the old one was removed.
        write(&next, "new");
        std::fs::write(with_suffix(&dir, ".current"), "1\n").unwrap();
        assert_eq!(stored(&dir), ["new"]);
        assert!(!dir.exists() && next.exists());
        assert!(SledBackend::exists(&dir));
        std::fs::remove_dir_all(&next).unwrap();
        std::fs::remove_file(with_suffix(&dir, ".current")).unwrap();
    }

    #[test]
    fn sled_backend_round_trips() {
        let dir = std::env::temp_dir().join(format!("oxcd-sled-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let b = SledBackend::open(&dir).unwrap();
            b.commit(&[put(2, "a"), put(3, "b"), BackendOp::SetCompacted(2)], 9)
                .unwrap();
            b.flush().unwrap();
        }
        let b = SledBackend::open(&dir).unwrap();
        let l = b.load().unwrap();
        assert_eq!((l.consistent_index, l.compact_rev, l.revs.len()), (9, 2, 2));
        assert_eq!(l.revs[1].2.key, b"b");
        drop(b);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
