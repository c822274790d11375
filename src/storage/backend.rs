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
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

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
    /// etcd's defragmentation: the size falls to the size in use (the
    /// backend's own storage frees what compaction removed).
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
    /// The live sled tree, and what commits since changed in it.
    Sled { db: sled::Db, undo: Arc<Undo> },
}

impl Checkpoint {
    /// Every pair as of the checkpoint, in key order. May take a while on
    /// a large backend: call it off the raft loop.
    pub fn pairs(self) -> io::Result<Vec<Pair>> {
        match self.0 {
            CheckpointView::Pairs(p) => Ok(p),
            CheckpointView::Sled { db, undo } => {
                let mut all = BTreeMap::new();
                for r in db.iter() {
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

/// sled, on a real directory.
pub struct SledBackend {
    db: sled::Db,
    /// The open checkpoints; a commit holds this lock, so a checkpoint is
    /// taken between two commits.
    checkpoints: Mutex<Vec<Weak<Undo>>>,
    sizes: Mutex<Sizes>,
}

fn open_sled(path: &Path) -> io::Result<sled::Db> {
    sled::Config::new()
        .path(path)
        .flush_every_ms(Some(100))
        .open()
        .map_err(io::Error::other)
}

impl SledBackend {
    pub fn open(dir: &Path) -> io::Result<Self> {
        let db = open_sled(dir)?;
        let mut sizes = Sizes::default();
        for r in db.iter() {
            let (k, v) = r.map_err(io::Error::other)?;
            sizes.change((k.len() + v.len()) as u64, 0);
        }
        Ok(SledBackend {
            db,
            checkpoints: Default::default(),
            sizes: Mutex::new(sizes),
        })
    }
}

/// Whether a write's key cannot exist yet: a new revision's (each revision
/// is written once), so a commit need not read what it overwrites.
fn is_fresh(key: &[u8], value: &Option<Vec<u8>>) -> bool {
    key.first() == Some(&b'k') && value.is_some()
}

impl Backend for SledBackend {
    fn commit(&self, ops: &[BackendOp], consistent_index: u64) -> io::Result<()> {
        let db = &self.db;
        let mut checkpoints = self.checkpoints.lock().expect("backend lock");
        checkpoints.retain(|c| c.strong_count() > 0);
        let undos: Vec<Arc<Undo>> = checkpoints.iter().filter_map(Weak::upgrade).collect();
        let mut batch = sled::Batch::default();
        // What each key held before this batch, or earlier in it.
        let mut before: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
        let (mut added, mut removed) = (0u64, 0u64);
        for (k, v) in raw_writes(ops, consistent_index) {
            let old = match before.get(&k) {
                Some(old) => old.clone(),
                None if is_fresh(&k, &v) => None,
                None => db.get(&k).map_err(io::Error::other)?.map(|v| v.to_vec()),
            };
            for undo in &undos {
                undo.lock()
                    .expect("checkpoint lock")
                    .entry(k.clone())
                    .or_insert_with(|| old.clone());
            }
            removed += old.as_ref().map_or(0, |o| (k.len() + o.len()) as u64);
            added += v.as_ref().map_or(0, |n| (k.len() + n.len()) as u64);
            match &v {
                Some(v) => batch.insert(k.clone(), v.clone()),
                None => batch.remove(k.clone()),
            }
            before.insert(k, v);
        }
        db.apply_batch(batch).map_err(io::Error::other)?;
        self.sizes
            .lock()
            .expect("backend lock")
            .change(added, removed);
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        self.db.flush().map(|_| ()).map_err(io::Error::other)
    }

    fn load(&self) -> io::Result<Loaded> {
        let items: Vec<(sled::IVec, sled::IVec)> = self
            .db
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
        self.db
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
        let db = &self.db;
        let checkpoints = self.checkpoints.lock().expect("backend lock");
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
        let db = &self.db;
        let undo: Arc<Undo> = Default::default();
        self.checkpoints
            .lock()
            .expect("backend lock")
            .push(Arc::downgrade(&undo));
        Checkpoint(CheckpointView::Sled {
            db: db.clone(),
            undo,
        })
    }

    fn defragment(&self) -> io::Result<()> {
        // sled frees the space of what compaction removed by itself, in
        // its segments; what is left to do is etcd's bookkeeping: the size
        // falls to the size in use. (Rewriting sled into a new directory
        // and swapping it in is unsafe while sled's threads still write by
        // path into the old one; see CONTRIBUTING.)
        self.flush()?;
        let mut sizes = self.sizes.lock().expect("backend lock");
        sizes.high = sizes.in_use;
        Ok(())
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
        std::fs::remove_dir_all(&dir).unwrap();
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
