//! Write-ahead log of raft state, through the [`Disk`] seam.
//!
//! One append-only file of checksummed records:
//!
//! ```text
//! record = len:u32le  crc32(kind ‖ payload):u32le  kind:u8  payload[len]
//! kind   = 1 entry (raft Entry) | 2 hard state | 3 conf state (at bootstrap)
//!        | 4 metadata (member id, cluster id: u64 big-endian each)
//!        | 5 log start (index, term: u64 big-endian each)
//! ```
//!
//! A log-start record says every entry up to `index` is in the backend (a
//! received snapshot was installed there): replay forgets the entries before
//! it. Compaction ([`Wal::rewrite`]) replaces the whole file, atomically,
//! with the metadata, the hard state, a log start and the retained entries.
//!
//! Replay reads records in order; an entry whose index is not past the
//! previous one replaces the conflicting suffix (raft overwrote it). The first
//! record that is short or fails its checksum marks the torn tail of the last
//! unsynced write: it and everything after it are cut off. Nothing past the
//! last `sync` was ever acknowledged, so nothing acknowledged is lost.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, HardState};

use crate::rt::disk::Disk;

pub const KIND_ENTRY: u8 = 1;
pub const KIND_HARD_STATE: u8 = 2;
pub const KIND_CONF_STATE: u8 = 3;
pub const KIND_METADATA: u8 = 4;
pub const KIND_LOG_START: u8 = 5;
/// The bytes before a record's payload.
pub const HEADER_BYTES: usize = 9;
/// The log's one file, in the WAL directory.
pub const WAL_FILE: &str = "0000000000000000-0000000000000000.wal";
/// A record larger than this is corruption, not data (requests are capped far lower).
const RECORD_BYTES_MAX: usize = 64 << 20;
/// Space reserved ahead of the log's end, and again each time the appends
/// reach it, as etcd preallocates its 64 MB WAL segments: a sync then
/// writes into allocated space and need not commit a new file size. Smaller
/// than etcd's: the gain is the same, and the test suite's many data
/// directories stay small.
pub const RESERVE_BYTES: u64 = 4 << 20;

/// Raft state recovered from the log.
#[derive(Default, Debug)]
pub struct WalState {
    pub hard_state: Option<HardState>,
    pub conf_state: Option<ConfState>,
    /// `(member id, cluster id)` this log was created for.
    pub metadata: Option<(u64, u64)>,
    /// `(index, term)` of the entry before the first retained one.
    pub log_start: Option<(u64, u64)>,
    pub entries: Vec<Entry>,
    /// Bytes cut off the tail (a torn or unsynced write).
    pub truncated_bytes: u64,
}

pub struct Wal {
    disk: Arc<dyn Disk>,
    path: PathBuf,
    buf: Vec<u8>,
    /// Kept to be written again at the head of a compacted log.
    metadata: Option<(u64, u64)>,
    bootstrap_conf_state: Option<ConfState>,
}

impl Wal {
    /// Opens (creating) the log in `dir` and replays it.
    pub fn open(disk: Arc<dyn Disk>, dir: &Path) -> io::Result<(Wal, WalState)> {
        disk.create_dir_all(dir)?;
        let path = dir.join(WAL_FILE);
        let data = disk.read(&path)?.unwrap_or_default();
        let (state, valid_len) = replay(&data)?;
        let mut state = state;
        if valid_len < data.len() {
            // Past the last whole record: a torn write, then the zeros of
            // the reserved space (not worth a warning).
            let torn = data[valid_len..].iter().rposition(|&b| b != 0);
            state.truncated_bytes = torn.map_or(0, |last| last as u64 + 1);
            disk.truncate(&path, valid_len as u64)?;
        }
        disk.reserve(&path, RESERVE_BYTES)?;
        let wal = Wal {
            disk,
            path,
            buf: Vec::new(),
            metadata: state.metadata,
            bootstrap_conf_state: state.conf_state.clone(),
        };
        Ok((wal, state))
    }

    /// The `(member id, cluster id)` a log in `dir` was created for, if any,
    /// without changing anything.
    pub fn read_metadata(disk: &dyn Disk, dir: &Path) -> io::Result<Option<(u64, u64)>> {
        let path = dir.join(WAL_FILE);
        let data = disk.read(&path)?.unwrap_or_default();
        Ok(replay(&data)?.0.metadata)
    }

    fn record(&mut self, kind: u8, payload: &[u8]) {
        encode_record(&mut self.buf, kind, payload);
    }

    pub fn append_entries(&mut self, entries: &[Entry]) -> io::Result<()> {
        for e in entries {
            let b = e.write_to_bytes().map_err(io::Error::other)?;
            self.record(KIND_ENTRY, &b);
        }
        Ok(())
    }

    pub fn set_hard_state(&mut self, hs: &HardState) -> io::Result<()> {
        let b = hs.write_to_bytes().map_err(io::Error::other)?;
        self.record(KIND_HARD_STATE, &b);
        Ok(())
    }

    /// Records which member of which cluster this log belongs to.
    pub fn set_metadata(&mut self, member_id: u64, cluster_id: u64) {
        self.metadata = Some((member_id, cluster_id));
        self.record(KIND_METADATA, &pair(member_id, cluster_id));
    }

    /// Records the configuration the log was bootstrapped with.
    pub fn set_conf_state(&mut self, cs: &ConfState) -> io::Result<()> {
        self.bootstrap_conf_state = Some(cs.clone());
        let b = cs.write_to_bytes().map_err(io::Error::other)?;
        self.record(KIND_CONF_STATE, &b);
        Ok(())
    }

    /// Records that every entry up to `index` is in the backend.
    pub fn set_log_start(&mut self, index: u64, term: u64) {
        self.record(KIND_LOG_START, &pair(index, term));
    }

    /// Replaces the log, atomically and durably, with one that holds only
    /// `hs` and the entries after `start` (compaction). Buffered records
    /// must have been synced first.
    pub fn rewrite(
        &mut self,
        hs: &HardState,
        start: (u64, u64),
        entries: &[Entry],
    ) -> io::Result<()> {
        assert!(self.buf.is_empty(), "rewrite with unsynced records");
        let mut out = Vec::new();
        if let Some((m, c)) = self.metadata {
            encode_record(&mut out, KIND_METADATA, &pair(m, c));
        }
        if let Some(cs) = &self.bootstrap_conf_state {
            let b = cs.write_to_bytes().map_err(io::Error::other)?;
            encode_record(&mut out, KIND_CONF_STATE, &b);
        }
        encode_record(&mut out, KIND_LOG_START, &pair(start.0, start.1));
        for e in entries {
            let b = e.write_to_bytes().map_err(io::Error::other)?;
            encode_record(&mut out, KIND_ENTRY, &b);
        }
        let b = hs.write_to_bytes().map_err(io::Error::other)?;
        encode_record(&mut out, KIND_HARD_STATE, &b);
        self.disk.replace(&self.path, &out)?;
        self.disk.reserve(&self.path, RESERVE_BYTES)
    }

    /// Writes buffered records to the file without making them durable:
    /// they survive the process, not the machine.
    pub fn write(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.disk.append(&self.path, &self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Writes buffered records and makes them durable.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.write()?;
        if crate::bugs::active(crate::bugs::Bug::AckBeforeFsync) {
            return Ok(());
        }
        self.disk.sync(&self.path)
    }
}

fn pair(a: u64, b: u64) -> Vec<u8> {
    let mut v = a.to_be_bytes().to_vec();
    v.extend_from_slice(&b.to_be_bytes());
    v
}

fn unpair(p: &[u8]) -> (u64, u64) {
    let id = |b: &[u8]| u64::from_be_bytes(b.try_into().expect("8 bytes"));
    (id(&p[..8]), id(&p[8..]))
}

/// Appends one record to `buf` (public for the fuzz target, which corrupts
/// what it writes).
pub fn encode_record(buf: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(payload);
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&h.finalize().to_le_bytes());
    buf.push(kind);
    buf.extend_from_slice(payload);
}

/// Replays a log's bytes: the state they hold and the length of the valid
/// prefix (everything after it is a torn or corrupt tail). An error means a
/// record passed its checksum but does not decode, which no write of ours
/// produces.
pub fn replay(data: &[u8]) -> io::Result<(WalState, usize)> {
    let mut st = WalState::default();
    let mut off = 0;
    while data.len() - off >= HEADER_BYTES {
        let len = u32::from_le_bytes(data[off..off + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(data[off + 4..off + 8].try_into().expect("4 bytes"));
        let kind = data[off + 8];
        if len > RECORD_BYTES_MAX || data.len() - off - HEADER_BYTES < len {
            break;
        }
        let payload = &data[off + HEADER_BYTES..off + HEADER_BYTES + len];
        let mut h = crc32fast::Hasher::new();
        h.update(&[kind]);
        h.update(payload);
        if h.finalize() != crc {
            break;
        }
        let bad = |e: protobuf::ProtobufError| io::Error::new(io::ErrorKind::InvalidData, e);
        match kind {
            KIND_ENTRY => {
                let e = Entry::parse_from_bytes(payload).map_err(bad)?;
                if let Some(first) = st.entries.first().map(|f| f.index) {
                    let keep = e.index.saturating_sub(first) as usize;
                    st.entries.truncate(keep);
                }
                st.entries.push(e);
            }
            KIND_LOG_START if payload.len() == 16 => {
                // Entries before it are in the backend; later ones follow.
                st.entries.clear();
                st.log_start = Some(unpair(payload));
            }
            KIND_HARD_STATE => {
                st.hard_state = Some(HardState::parse_from_bytes(payload).map_err(bad)?)
            }
            KIND_CONF_STATE => {
                st.conf_state = Some(ConfState::parse_from_bytes(payload).map_err(bad)?)
            }
            KIND_METADATA if payload.len() == 16 => st.metadata = Some(unpair(payload)),
            _ => break,
        }
        off += HEADER_BYTES + len;
    }
    Ok((st, off))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::disk::SimDisk;

    fn entry(term: u64, index: u64, data: &[u8]) -> Entry {
        Entry {
            term,
            index,
            data: data.to_vec().into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_real_log_reopens_past_its_reserved_zeros() {
        let dir = std::env::temp_dir().join(format!("oxcd-wal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let disk = || Arc::new(crate::rt::disk::FsDisk::new());
        {
            let (mut w, _) = Wal::open(disk(), &dir).unwrap();
            w.append_entries(&[entry(1, 1, b"a"), entry(1, 2, b"b")])
                .unwrap();
            w.sync().unwrap();
        }
        let file = dir.join(WAL_FILE);
        // The records went into the space reserved at the first open.
        assert_eq!(std::fs::metadata(&file).unwrap().len(), RESERVE_BYTES);
        let (mut w, st) = Wal::open(disk(), &dir).unwrap();
        // The zeros are no torn tail; appends go on after the records.
        assert_eq!((st.entries.len(), st.truncated_bytes), (2, 0));
        w.append_entries(&[entry(1, 3, b"c")]).unwrap();
        w.sync().unwrap();
        let (_, st) = Wal::open(disk(), &dir).unwrap();
        let indexes: Vec<u64> = st.entries.iter().map(|e| e.index).collect();
        assert_eq!((indexes, st.truncated_bytes), (vec![1, 2, 3], 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replays_synced_records_and_drops_unsynced_ones() {
        let disk = SimDisk::new();
        let dir = Path::new("/d/wal");
        {
            let (mut w, st) = Wal::open(Arc::new(disk.clone()), dir).unwrap();
            assert!(st.entries.is_empty());
            w.append_entries(&[entry(1, 1, b"a"), entry(1, 2, b"b")])
                .unwrap();
            let hs = HardState {
                commit: 2,
                ..Default::default()
            };
            w.set_hard_state(&hs).unwrap();
            w.sync().unwrap();
            w.append_entries(&[entry(1, 3, &[9; 2000])]).unwrap();
            w.disk.append(&w.path, &w.buf).unwrap(); // written, never synced
        }
        disk.crash(|max| max / 2); // torn inside the unsynced record
        let (_, st) = Wal::open(Arc::new(disk.clone()), dir).unwrap();
        assert_eq!(st.entries.len(), 2);
        assert_eq!(st.hard_state.unwrap().commit, 2);
        assert!(st.truncated_bytes > 0);
        // The cut is durable: a second open finds a clean log.
        let (_, st) = Wal::open(Arc::new(disk), dir).unwrap();
        assert_eq!((st.entries.len(), st.truncated_bytes), (2, 0));
    }

    #[test]
    fn log_start_and_rewrite_drop_older_entries() {
        let disk = SimDisk::new();
        let dir = Path::new("/d/wal");
        let (mut w, _) = Wal::open(Arc::new(disk.clone()), dir).unwrap();
        w.set_metadata(7, 9);
        w.append_entries(&[entry(1, 1, b"a"), entry(1, 2, b"b")])
            .unwrap();
        w.set_log_start(10, 3); // a snapshot was installed
        w.append_entries(&[entry(3, 11, b"c")]).unwrap();
        w.sync().unwrap();
        let (mut w, st) = Wal::open(Arc::new(disk.clone()), dir).unwrap();
        assert_eq!(st.log_start, Some((10, 3)));
        assert_eq!(st.entries.len(), 1);
        let hs = HardState {
            term: 3,
            commit: 12,
            ..Default::default()
        };
        w.rewrite(&hs, (11, 3), &[entry(3, 12, b"d")]).unwrap();
        let (_, st) = Wal::open(Arc::new(disk), dir).unwrap();
        assert_eq!(st.metadata, Some((7, 9)));
        assert_eq!(st.log_start, Some((11, 3)));
        let got: Vec<_> = st.entries.iter().map(|e| e.index).collect();
        assert_eq!(got, vec![12]);
        assert_eq!(st.hard_state.unwrap().commit, 12);
    }

    #[test]
    fn later_entries_replace_a_conflicting_suffix() {
        let disk = SimDisk::new();
        let dir = Path::new("/d/wal");
        let (mut w, _) = Wal::open(Arc::new(disk.clone()), dir).unwrap();
        w.append_entries(&[entry(1, 1, b"a"), entry(1, 2, b"b"), entry(1, 3, b"c")])
            .unwrap();
        w.append_entries(&[entry(2, 2, b"x")]).unwrap();
        w.sync().unwrap();
        let (_, st) = Wal::open(Arc::new(disk), dir).unwrap();
        let got: Vec<_> = st.entries.iter().map(|e| (e.term, e.index)).collect();
        assert_eq!(got, vec![(1, 1), (2, 2)]);
    }
}
