//! The backend: durable home of the MVCC history and the *consistent index*
//! (index of the last raft entry whose effects are in it). Both are written in
//! one atomic batch, so replaying the WAL after a crash skips exactly the
//! entries already applied — the replay is idempotent.
//!
//! Production uses sled ([`SledBackend`]); the simulator uses [`MemBackend`],
//! which, like a real crash, loses every batch committed since its last
//! [`Backend::flush`].

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

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
pub trait Backend: Send + Sync + 'static {
    /// Atomically applies `ops` and records `consistent_index`.
    fn commit(&self, ops: &[BackendOp], consistent_index: u64) -> io::Result<()>;
    /// Makes every earlier commit durable.
    fn flush(&self) -> io::Result<()>;
    /// Reads everything back.
    fn load(&self) -> io::Result<Loaded>;
    /// Approximate on-disk size, for `endpoint status`.
    fn size_bytes(&self) -> u64;
    /// Every raw pair, for a snapshot.
    fn dump(&self) -> io::Result<Vec<Pair>>;
    /// Atomically and durably replaces the whole contents with `pairs`.
    fn replace_all(&self, pairs: Vec<Pair>) -> io::Result<()>;

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

/// sled, on a real directory.
pub struct SledBackend {
    db: sled::Db,
}

impl SledBackend {
    pub fn open(dir: &Path) -> io::Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(Some(100))
            .open()
            .map_err(io::Error::other)?;
        Ok(SledBackend { db })
    }
}

impl Backend for SledBackend {
    fn commit(&self, ops: &[BackendOp], consistent_index: u64) -> io::Result<()> {
        let mut batch = sled::Batch::default();
        for (k, v) in raw_writes(ops, consistent_index) {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.db.apply_batch(batch).map_err(io::Error::other)
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
        self.db.size_on_disk().unwrap_or(0)
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
        // One batch removes the old keys and writes the new: atomic.
        let mut batch = sled::Batch::default();
        for k in self.db.iter().keys() {
            batch.remove(k.map_err(io::Error::other)?);
        }
        for p in pairs {
            batch.insert(p.key, p.value);
        }
        self.db.apply_batch(batch).map_err(io::Error::other)?;
        self.flush()
    }
}

#[derive(Default)]
struct MemState {
    durable: BTreeMap<Vec<u8>, Vec<u8>>,
    current: BTreeMap<Vec<u8>, Vec<u8>>,
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

    /// Simulates a crash: commits since the last flush are lost.
    pub fn crash(&self) {
        let mut s = self.state.lock().expect("backend lock");
        s.current = s.durable.clone();
    }
}

impl Backend for MemBackend {
    fn commit(&self, ops: &[BackendOp], consistent_index: u64) -> io::Result<()> {
        let mut s = self.state.lock().expect("backend lock");
        for (k, v) in raw_writes(ops, consistent_index) {
            match v {
                Some(v) => s.current.insert(k, v),
                None => s.current.remove(&k),
            };
        }
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
        let s = self.state.lock().expect("backend lock");
        s.current
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum()
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
