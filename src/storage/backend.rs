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

use crate::mvcc::{BackendOp, Revision};
use crate::pb::mvccpb::KeyValue;

const KEY_PREFIX: u8 = b'k';
const META_CONSISTENT_INDEX: &[u8] = b"m/consistent_index";
const META_COMPACT_REV: &[u8] = b"m/compact_rev";
const META_MEMBER_PREFIX: &str = "m/member/";

/// What a backend holds, read at startup.
#[derive(Debug, Default)]
pub struct Loaded {
    /// `(revision, tombstone, kv)` in ascending revision order.
    pub revs: Vec<(Revision, bool, KeyValue)>,
    pub compact_rev: i64,
    pub consistent_index: u64,
    /// Members' published attributes.
    pub members: Vec<crate::pb::etcdserverpb::Member>,
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
}

/// Turns ops into raw key/value writes (`None` value = delete).
fn raw_writes(ops: &[BackendOp], consistent_index: u64) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut w = Vec::with_capacity(ops.len() + 1);
    for op in ops {
        match op {
            BackendOp::PutRev { rev, tombstone, kv } => {
                let mut k = vec![KEY_PREFIX];
                k.extend(rev.to_bytes(*tombstone));
                w.push((k, Some(kv.encode_to_vec())));
            }
            BackendOp::DeleteRev { rev, tombstone } => {
                let mut k = vec![KEY_PREFIX];
                k.extend(rev.to_bytes(*tombstone));
                w.push((k, None));
            }
            BackendOp::SetCompacted(r) => {
                w.push((META_COMPACT_REV.to_vec(), Some(r.to_be_bytes().to_vec())))
            }
            BackendOp::SetMember(m) => {
                let k = format!("{META_MEMBER_PREFIX}{:016x}", m.id).into_bytes();
                w.push((k, Some(m.encode_to_vec())));
            }
        }
    }
    w.push((
        META_CONSISTENT_INDEX.to_vec(),
        Some(consistent_index.to_be_bytes().to_vec()),
    ));
    w
}

fn decode_all<'a>(items: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> io::Result<Loaded> {
    let bad =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("backend: bad {what}"));
    let mut l = Loaded {
        compact_rev: -1,
        ..Default::default()
    };
    for (k, v) in items {
        if k == META_CONSISTENT_INDEX {
            l.consistent_index = u64::from_be_bytes(v.try_into().map_err(|_| bad("index"))?);
        } else if k == META_COMPACT_REV {
            l.compact_rev = i64::from_be_bytes(v.try_into().map_err(|_| bad("compact rev"))?);
        } else if k.starts_with(META_MEMBER_PREFIX.as_bytes()) {
            let m = crate::pb::etcdserverpb::Member::decode(v).map_err(|_| bad("member"))?;
            l.members.push(m);
        } else if k.first() == Some(&KEY_PREFIX) {
            let (rev, tomb) = Revision::from_bytes(&k[1..]).ok_or_else(|| bad("revision"))?;
            let kv = KeyValue::decode(v).map_err(|_| bad("key-value"))?;
            l.revs.push((rev, tomb, kv));
        }
    }
    Ok(l)
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
