//! `backup` (etcdctl's `backup_command.go`): an offline copy of an etcd
//! 3.4 data dir (etcd's WAL, snap and bbolt formats) that starts as a new
//! cluster with `--force-new-cluster`:
//!
//! * the newest snapshot file is copied;
//! * the WAL from that snapshot is read (etcd's `wal.ReadAll`) and written
//!   again as one new segment (crc, metadata with a new node and cluster id,
//!   the entries, the hard state, the snapshot record), without its conf
//!   changes, the members' attribute updates, and (without `--with-v3`)
//!   the v3 requests, each removal shifting the later indexes down;
//! * the database is a fresh bbolt file (`snapshot::bolt`) holding only
//!   the consistent index (the hard state's commit): without `--with-v3`
//!   etcd does the same.
//!
//! Not built: `--with-v3` (it copies the v3 database and deletes its
//! member buckets; `snapshot::bolt` reads and writes such files). etcd's `log.Fatal` texts
//! come out as it prints them (capnslog lines, exit 1). Files are read and
//! written directly: this is the command line's shell, not the server.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{Entry, EntryType, HardState};

use crate::ctl::util::{create_dir_all, path_error};
use crate::pb::etcdserverpb::{InternalRaftRequest, Metadata, Request};
use crate::rt::net::http1::go_errno;

use super::{Ctx, Io, Res};

const METADATA_TYPE: i64 = 1;
const ENTRY_TYPE: i64 = 2;
const STATE_TYPE: i64 = 3;
const CRC_TYPE: i64 = 4;
const SNAPSHOT_TYPE: i64 = 5;
/// etcd's `wal.SegmentSizeBytes`: a segment is preallocated to this.
const SEGMENT_BYTES: u64 = 64 * 1000 * 1000;

/// A capnslog line as etcdctl's `log` package prints it.
fn log(io: &mut Io, msg: &str) {
    let (secs, micros) = crate::logging::wall_clock();
    let (y, mo, d, h, mi, s) = crate::logging::utc(secs);
    io.err(&format!(
        "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{micros:06} I | {msg}\n"
    ));
}

pub async fn backup(io: &mut Io, c: &Ctx<'_>) -> Res {
    if c.flags.bool("with-v3") {
        io.err("Error: 'etcdctl backup --with-v3' is not built in oxcd's etcdctl yet\n");
        return Err(1);
    }
    let data_dir = PathBuf::from(c.flags.string("data-dir"));
    let backup_dir = PathBuf::from(c.flags.string("backup-dir"));
    let src_snap = data_dir.join("member").join("snap");
    let dest_snap = backup_dir.join("member").join("snap");
    let src_wal = match c.flags.string("wal-dir") {
        w if w.is_empty() => data_dir.join("member").join("wal"),
        w => PathBuf::from(w),
    };
    let dest_wal = match c.flags.string("backup-wal-dir") {
        w if w.is_empty() => backup_dir.join("member").join("wal"),
        w => PathBuf::from(w),
    };
    let res = (|| -> Result<(), String> {
        create_dir_all(&dest_snap).map_err(|e| {
            format!(
                "failed creating backup snapshot dir {}: {e}",
                dest_snap.display()
            )
        })?;
        let walsnap = save_snap(&dest_snap, &src_snap)?;
        let (mut metadata, state, ents) = load_wal(io, &src_wal, walsnap)?;
        save_db(&dest_snap.join("db"), state.commit)?;
        let (node, cluster) = new_ids();
        metadata.node_id = node;
        metadata.cluster_id = cluster;
        write_wal(&dest_wal, &metadata, &state, &ents, walsnap)
    })();
    res.map_err(|msg| {
        log(io, &msg);
        1
    })
}

/// `(index, term)` of a WAL snapshot record.
type WalSnap = (u64, u64);

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// A small protobuf message's varint fields (tag, value) and its first
/// bytes field.
type Fields = (Vec<(u64, u64)>, Option<Vec<u8>>);

/// Decodes walpb.Record, walpb.Snapshot and snappb.Snapshot, messages of
/// varints and one bytes field.
fn fields(b: &[u8]) -> Option<Fields> {
    let (mut ints, mut bytes, mut i) = (Vec::new(), None, 0);
    while i < b.len() {
        let key = read_varint(b, &mut i)?;
        match key & 7 {
            0 => ints.push((key >> 3, read_varint(b, &mut i)?)),
            2 => {
                let n = read_varint(b, &mut i)? as usize;
                let v = b.get(i..i + n)?.to_vec();
                i += n;
                bytes.get_or_insert(v);
            }
            _ => return None,
        }
    }
    Some((ints, bytes))
}

fn field(ints: &[(u64, u64)], tag: u64) -> u64 {
    ints.iter().find(|(t, _)| *t == tag).map_or(0, |(_, v)| *v)
}

/// `saveSnap`: the newest snapshot file, copied; its index and term.
fn save_snap(dest: &Path, src: &Path) -> Result<WalSnap, String> {
    let mut names: Vec<String> = fs::read_dir(src)
        .map_err(|e| path_error("open", src, &e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".snap"))
        .collect();
    names.sort();
    for name in names.iter().rev() {
        let Ok(raw) = fs::read(src.join(name)) else {
            continue;
        };
        let Some((ints, Some(data))) = fields(&raw) else {
            continue;
        };
        let mut crc = crate::mvcc::Crc32c::resume(0);
        crc.update(&data);
        if field(&ints, 1) as u32 != crc.finalize() {
            continue;
        }
        let Ok(snap) = raft::eraftpb::Snapshot::parse_from_bytes(&data) else {
            continue;
        };
        let m = snap.get_metadata();
        fs::write(dest.join(name), &raw).map_err(|e| path_error("open", &dest.join(name), &e))?;
        return Ok((m.index, m.term));
    }
    Ok((0, 0))
}

/// The WAL's segment files from the one holding `snap_index` on
/// (etcd's `selectWALFiles`).
fn wal_files(dir: &Path, snap_index: u64) -> Result<Vec<PathBuf>, String> {
    let mut names: Vec<(u64, u64, String)> = fs::read_dir(dir)
        .map_err(|e| path_error("open", dir, &e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter_map(|n| {
            let stem = n.strip_suffix(".wal")?;
            let (seq, index) = stem.split_once('-')?;
            Some((
                u64::from_str_radix(seq, 16).ok()?,
                u64::from_str_radix(index, 16).ok()?,
                n,
            ))
        })
        .collect();
    names.sort();
    let Some(start) = names.iter().rposition(|(_, index, _)| *index <= snap_index) else {
        return Err("wal: file not found".into());
    };
    Ok(names[start..].iter().map(|(_, _, n)| dir.join(n)).collect())
}

/// The records of one segment, up to its end or preallocated zeros.
fn records(raw: &[u8]) -> Result<Vec<(i64, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 8 <= raw.len() {
        let len_field = u64::from_le_bytes(raw[off..off + 8].try_into().expect("8 bytes"));
        if len_field == 0 {
            break;
        }
        let rec_bytes = (len_field & 0x00ff_ffff_ffff_ffff) as usize;
        let pad = if len_field >> 63 == 1 {
            ((len_field >> 56) & 7) as usize
        } else {
            0
        };
        let body = raw
            .get(off + 8..off + 8 + rec_bytes)
            .ok_or_else(|| "unexpected EOF".to_string())?;
        let (ints, data) = fields(body).ok_or_else(|| "proto: illegal wireType".to_string())?;
        out.push((field(&ints, 1) as i64, data.unwrap_or_default()));
        off += 8 + rec_bytes + pad;
    }
    Ok(out)
}

/// Whether `path` is a member's attributes key (`/0/members/<id>/attributes`).
fn member_attributes(path: &str) -> bool {
    let mut rest = path;
    while let Some(i) = rest.find("/0/members/") {
        let after = &rest[i + "/0/members/".len()..];
        let hex = after.chars().take_while(char::is_ascii_hexdigit).count();
        if (1..=16).contains(&hex) && after[hex..].starts_with("/attributes") {
            return true;
        }
        rest = &rest[i + 1..];
    }
    false
}

/// A normal entry's request: a v2 `Request`, a v3 request (one with a
/// header), or neither (an empty entry). etcd 3.4 writes v2 requests
/// bare and v3 ones as `InternalRaftRequest`s.
enum Payload {
    V2(Request),
    V3,
    Other,
}

fn payload(data: &[u8]) -> Payload {
    if let Ok(r) = Request::decode(data) {
        let word = !r.method.is_empty() && r.method.chars().all(|c| c.is_ascii_uppercase());
        if word {
            return Payload::V2(r);
        }
    }
    match InternalRaftRequest::decode(data) {
        Ok(r) if r.header.is_some() => Payload::V3,
        _ => Payload::Other,
    }
}

/// `loadWAL`: the metadata, the hard state and the entries to keep.
fn load_wal(
    io: &mut Io,
    dir: &Path,
    snap: WalSnap,
) -> Result<(Metadata, HardState, Vec<Entry>), String> {
    let mut metadata: Option<Vec<u8>> = None;
    let mut state = HardState::default();
    let mut ents: Vec<Entry> = Vec::new();
    let mut matched = false;
    for f in wal_files(dir, snap.0)? {
        let raw = fs::read(&f).map_err(|e| path_error("open", &f, &e))?;
        for (kind, data) in records(&raw)? {
            match kind {
                ENTRY_TYPE => {
                    let e = Entry::parse_from_bytes(&data).map_err(|e| e.to_string())?;
                    if e.index > snap.0 {
                        let keep = (e.index - snap.0 - 1) as usize;
                        ents.truncate(keep);
                        ents.push(e);
                    }
                }
                STATE_TYPE => {
                    state = HardState::parse_from_bytes(&data).map_err(|e| e.to_string())?;
                }
                METADATA_TYPE => {
                    if metadata.as_ref().is_some_and(|m| *m != data) {
                        return Err("wal: conflicting metadata found".into());
                    }
                    metadata = Some(data);
                }
                SNAPSHOT_TYPE => {
                    let (ints, _) = fields(&data).unwrap_or_default();
                    if field(&ints, 1) == snap.0 {
                        if field(&ints, 2) != snap.1 {
                            return Err("wal: snapshot mismatch".into());
                        }
                        matched = true;
                    }
                }
                CRC_TYPE => {}
                _ => return Err("wal: unexpected block type".into()),
            }
        }
    }
    if !matched {
        log(
            io,
            &format!(
                "Failed to find the match snapshot record {{Index:{} Term:{} XXX_unrecognized:[]}} in wal {}.",
                snap.0,
                snap.1,
                dir.display()
            ),
        );
        log(io, "etcdctl will add it back. Start auto fixing...");
    }
    let mut kept = Vec::with_capacity(ents.len());
    let mut removed = 0u64;
    for mut e in ents {
        e.index -= removed;
        if e.get_entry_type() == EntryType::EntryConfChange {
            log(io, "ignoring EntryConfChange raft entry");
            removed += 1;
            continue;
        }
        match payload(e.get_data()) {
            Payload::V2(r) if r.method == "PUT" && member_attributes(&r.path) => {
                log(
                    io,
                    &format!("ignoring member attribute update on {}", r.path),
                );
                removed += 1;
                continue;
            }
            Payload::V3 => {
                log(io, "ignoring v3 raft entry");
                removed += 1;
                continue;
            }
            _ => {}
        }
        kept.push(e);
    }
    state.commit -= removed;
    let metadata =
        Metadata::decode(metadata.unwrap_or_default().as_slice()).map_err(|e| e.to_string())?;
    Ok((metadata, state, kept))
}

/// etcd's `idutil.Generator` started now with member 0: the next two ids.
fn new_ids() -> (u64, u64) {
    let (secs, micros) = crate::logging::wall_clock();
    let ms = secs * 1000 + u64::from(micros) / 1000;
    let suffix = (ms & ((1 << 40) - 1)) << 8;
    let mask = (1u64 << 48) - 1;
    ((suffix + 1) & mask, (suffix + 2) & mask)
}

/// A WAL segment being written: its bytes and the running CRC-32C of
/// its records' data.
struct Segment {
    out: Vec<u8>,
    crc: crate::mvcc::Crc32c,
}

impl Segment {
    /// A segment that starts a WAL (no previous CRC).
    fn new() -> Segment {
        Segment {
            out: Vec::new(),
            crc: crate::mvcc::Crc32c::resume(0),
        }
    }

    /// One frame: the length (with the padding in its top byte), the
    /// record (type, running CRC, data), zeros to 8 bytes.
    fn record(&mut self, kind: i64, data: Option<&[u8]>) {
        self.crc.update(data.unwrap_or_default());
        let mut rec = vec![0x08];
        varint(&mut rec, kind as u64);
        rec.push(0x10);
        varint(&mut rec, u64::from(self.crc.finalize()));
        if let Some(d) = data {
            rec.push(0x1a);
            varint(&mut rec, d.len() as u64);
            rec.extend_from_slice(d);
        }
        let pad = (8 - rec.len() % 8) % 8;
        let mut len_field = rec.len() as u64;
        if pad != 0 {
            len_field |= (0x80 | pad as u64) << 56;
        }
        self.out.extend_from_slice(&len_field.to_le_bytes());
        self.out.extend_from_slice(&rec);
        self.out.extend(std::iter::repeat_n(0, pad));
    }
}

fn wal_snapshot(s: WalSnap) -> Vec<u8> {
    let mut b = vec![0x08];
    varint(&mut b, s.0);
    b.push(0x10);
    varint(&mut b, s.1);
    b
}

/// `wal.Create`, `Save` and `SaveSnapshot`: one segment, built in
/// `<dir>.tmp` and renamed.
fn write_wal(
    dir: &Path,
    metadata: &Metadata,
    state: &HardState,
    ents: &[Entry],
    snap: WalSnap,
) -> Result<(), String> {
    if dir.exists() {
        return Err("file already exists".into());
    }
    let tmp = PathBuf::from(format!("{}.tmp", dir.display()));
    let _ = fs::remove_dir_all(&tmp);
    create_dir_all(&tmp)?;
    let mut seg = Segment::new();
    seg.record(CRC_TYPE, None);
    seg.record(METADATA_TYPE, Some(&metadata.encode_to_vec()));
    seg.record(SNAPSHOT_TYPE, Some(&wal_snapshot((0, 0))));
    for e in ents {
        let data = e.write_to_bytes().map_err(|e| e.to_string())?;
        seg.record(ENTRY_TYPE, Some(&data));
    }
    if state.term != 0 || state.vote != 0 || state.commit != 0 {
        let data = state.write_to_bytes().map_err(|e| e.to_string())?;
        seg.record(STATE_TYPE, Some(&data));
    }
    seg.record(SNAPSHOT_TYPE, Some(&wal_snapshot(snap)));
    let out = seg.out;
    let file = tmp.join("0000000000000000-0000000000000000.wal");
    let write = || -> io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)?;
        f.write_all(&out)?;
        f.set_len(SEGMENT_BYTES.max(out.len() as u64))?;
        f.sync_all()
    };
    write().map_err(|e| path_error("open", &file, &e))?;
    fs::rename(&tmp, dir).map_err(|e| {
        format!(
            "rename {} {}: {}",
            tmp.display(),
            dir.display(),
            go_errno(&e)
        )
    })
}

/// `saveDB` without `--with-v3`: a new bbolt database whose one bucket,
/// `meta`, holds the consistent index.
fn save_db(path: &Path, consistent_index: u64) -> Result<(), String> {
    let meta = BTreeMap::from([(
        b"consistent_index".to_vec(),
        consistent_index.to_be_bytes().to_vec(),
    )]);
    let db = crate::snapshot::bolt::write(&BTreeMap::from([(b"meta".to_vec(), meta)]));
    let write = || -> io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(path)?;
        f.write_all(&db)?;
        f.sync_all()
    };
    write().map_err(|e| path_error("open", path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_attribute_paths() {
        assert!(member_attributes("/0/members/8e9e05c52164694d/attributes"));
        assert!(!member_attributes(
            "/0/members/8e9e05c52164694d/raftAttributes"
        ));
        assert!(!member_attributes("/1/foo"));
    }

    #[test]
    fn frames_round_trip() {
        let mut seg = Segment::new();
        seg.record(CRC_TYPE, None);
        seg.record(SNAPSHOT_TYPE, Some(&wal_snapshot((7, 2))));
        let out = seg.out;
        assert_eq!(out.len() % 8, 0);
        let recs = records(&out).unwrap();
        assert_eq!(recs[0], (CRC_TYPE, vec![]));
        assert_eq!(recs[1], (SNAPSHOT_TYPE, wal_snapshot((7, 2))));
    }

    #[test]
    fn v2_and_v3_payloads() {
        let v2 = Request {
            method: "PUT".into(),
            path: "/1/foo".into(),
            ..Request::default()
        };
        assert!(matches!(payload(&v2.encode_to_vec()), Payload::V2(_)));
        let v3 = InternalRaftRequest {
            header: Some(Default::default()),
            ..InternalRaftRequest::default()
        };
        assert!(matches!(payload(&v3.encode_to_vec()), Payload::V3));
        assert!(matches!(payload(&[]), Payload::Other));
    }
}
