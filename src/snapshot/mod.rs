//! etcd 3.4's snapshot files and what etcd's `clientv3/snapshot` package
//! does with them, on oxcd's backend.
//!
//! A snapshot file is an etcd backend — a bbolt file ([`bolt`]) with etcd's
//! buckets — followed by the SHA-256 of those bytes (etcd 3.4's
//! `Maintenance.Snapshot` sends the digest as its last chunk). oxcd keeps
//! its backend as flat pairs (`storage::schema`); this module maps them to
//! etcd's buckets and back:
//!
//! | oxcd key | etcd bucket | etcd key | value |
//! |---|---|---|---|
//! | `k` + revision | `key` | revision (`main`, `_`, `sub`, [`t`]) | `mvccpb.KeyValue`, as is |
//! | `l` + id | `lease` | id, 8 bytes big-endian | `leasepb.Lease`, as is |
//! | `a/enabled`, `a/revision` | `auth` | `authEnabled`, `authRevision` | as is |
//! | `a/user/<name>`, `a/role/<name>` | `authUsers`, `authRoles` | name | as is |
//! | `m/member/<id>` | `members` | id in hex, unpadded | etcd's member JSON |
//! | `m/removed/<id>` | `members_removed` | id in hex, unpadded | `removed` |
//! | `m/consistent_index` | `meta` | `consistent_index` | as is |
//! | `m/compact_rev` | `meta` | `scheduledCompactRev` and `finishedCompactRev` | revision bytes of the main revision |
//! | `m/cluster_version` | `cluster` | `clusterVersion` | as is |
//! | `al/` + alarm | `alarm` | encoded `AlarmMember` | empty |
//!
//! oxcd's raft bookkeeping (`m/conf_state`, `m/snapshot`,
//! `m/storage_version`) and the v2 store have no place in etcd's layout and
//! are left out: etcd keeps its v2 store in its raft snapshots, and a
//! restore starts a new cluster with a fresh raft log, as etcd's does.

pub mod bolt;

use std::collections::BTreeMap;
use std::io;

use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState};
use sha2::{Digest, Sha256};

use crate::mvcc::{Crc32c, Revision};
use crate::pb::etcdserverpb::Member;
use crate::storage::backend::Pair;
use crate::storage::schema::{self as s, BackendOp};

use self::bolt::Buckets;

// etcd 3.4's buckets and keys.
const KEY: &[u8] = b"key";
const META: &[u8] = b"meta";
const LEASE: &[u8] = b"lease";
const AUTH: &[u8] = b"auth";
const AUTH_USERS: &[u8] = b"authUsers";
const AUTH_ROLES: &[u8] = b"authRoles";
const MEMBERS: &[u8] = b"members";
const MEMBERS_REMOVED: &[u8] = b"members_removed";
const CLUSTER: &[u8] = b"cluster";
const ALARM: &[u8] = b"alarm";
/// Every bucket a running etcd 3.4 has created.
const BUCKETS: [&[u8]; 10] = [
    KEY,
    META,
    LEASE,
    AUTH,
    AUTH_USERS,
    AUTH_ROLES,
    MEMBERS,
    MEMBERS_REMOVED,
    CLUSTER,
    ALARM,
];
const CONSISTENT_INDEX: &[u8] = b"consistent_index";
const SCHEDULED_COMPACT_REV: &[u8] = b"scheduledCompactRev";
const FINISHED_COMPACT_REV: &[u8] = b"finishedCompactRev";
const AUTH_ENABLED: &[u8] = b"authEnabled";
const AUTH_REVISION: &[u8] = b"authRevision";
const CLUSTER_VERSION: &[u8] = b"clusterVersion";
/// etcd's value for a removed member.
const REMOVED: &[u8] = b"removed";

/// The SHA-256 a snapshot file ends with.
pub const SHA_BYTES: usize = 32;

/// The digest that follows the database in a snapshot file (the last
/// chunk of `Maintenance.Snapshot`).
pub fn sha256_trailer(db: &[u8]) -> [u8; SHA_BYTES] {
    Sha256::digest(db).into()
}

/// etcd's `hasChecksum`: a file whose size is 32 past a multiple of 512 (a
/// database is a whole number of pages) ends with its digest.
pub fn has_checksum(size: u64) -> bool {
    size % 512 == SHA_BYTES as u64
}

/// The database in a snapshot file, its digest verified as etcd's restore
/// does, with etcd's errors. A file without a digest is accepted only with
/// `skip_hash_check` (a database copied from a data dir).
pub fn verify_trailer(file: &[u8], skip_hash_check: bool) -> Result<&[u8], String> {
    if !has_checksum(file.len() as u64) {
        if !skip_hash_check {
            return Err("snapshot missing hash but --skip-hash-check=false".into());
        }
        return Ok(file);
    }
    let (db, sha) = file.split_at(file.len() - SHA_BYTES);
    if !skip_hash_check {
        let got = sha256_trailer(db);
        if got[..] != *sha {
            return Err(sha_mismatch(sha, &got));
        }
    }
    Ok(db)
}

/// A snapshot file's digest checked as it streams in: every byte but the
/// last 32 is hashed, and the last 32 must be that hash.
#[derive(Default)]
pub struct TrailerCheck {
    hasher: Sha256,
    /// The last bytes seen (at most [`SHA_BYTES`]): the trailer, if the
    /// stream ends here.
    tail: Vec<u8>,
    size: u64,
}

impl TrailerCheck {
    pub fn update(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > SHA_BYTES {
            let cut = self.tail.len() - SHA_BYTES;
            self.hasher.update(&self.tail[..cut]);
            self.tail.drain(..cut);
        }
    }

    /// Bytes seen so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the stream ended with the digest of what came before it
    /// (etcd's restore error when not).
    pub fn verify(self) -> Result<(), String> {
        let got: [u8; SHA_BYTES] = self.hasher.finalize().into();
        if self.tail.len() != SHA_BYTES || got[..] != self.tail[..] {
            return Err(sha_mismatch(&self.tail, &got));
        }
        Ok(())
    }
}

fn sha_mismatch(expected: &[u8], got: &[u8]) -> String {
    format!(
        "expected sha256 {}, got {}",
        go_bytes(expected),
        go_bytes(got)
    )
}

/// A byte slice as Go's `%v` prints it: `[6 148 118]`.
fn go_bytes(b: &[u8]) -> String {
    let v: Vec<String> = b.iter().map(u8::to_string).collect();
    format!("[{}]", v.join(" "))
}

fn rev_bytes(main: i64) -> Vec<u8> {
    Revision::new(main, 0).to_bytes(false)
}

fn member_hex(id: u64) -> Vec<u8> {
    format!("{id:x}").into_bytes()
}

/// A member as etcd 3.4 stores it in its `members` bucket (`json.Marshal`
/// of its `Member`: the id, the raft attributes, then the attributes,
/// empty ones left out).
fn member_json(m: &Member) -> String {
    use crate::v2store::json::{push_key, push_str, push_str_list};
    let mut j = format!("{{\"id\":{},", m.id);
    push_key(&mut j, "peerURLs");
    if m.peer_ur_ls.is_empty() {
        j.push_str("null");
    } else {
        push_str_list(&mut j, &m.peer_ur_ls);
    }
    if m.is_learner {
        j.push_str(",\"isLearner\":true");
    }
    if !m.name.is_empty() {
        j.push(',');
        push_key(&mut j, "name");
        push_str(&mut j, &m.name);
    }
    if !m.client_ur_ls.is_empty() {
        j.push(',');
        push_key(&mut j, "clientURLs");
        push_str_list(&mut j, &m.client_ur_ls);
    }
    j.push('}');
    j
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("snapshot: {what}"))
}

/// The reverse of [`member_json`].
fn member_from_json(v: &[u8]) -> io::Result<Member> {
    let j: serde_json::Value = serde_json::from_slice(v).map_err(invalid)?;
    let strings = |name: &str| -> Vec<String> {
        j[name]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Member {
        id: j["id"]
            .as_u64()
            .ok_or_else(|| invalid("member without an id"))?,
        name: j["name"].as_str().unwrap_or_default().to_string(),
        peer_ur_ls: strings("peerURLs"),
        client_ur_ls: strings("clientURLs"),
        is_learner: j["isLearner"].as_bool().unwrap_or(false),
    })
}

/// Where one oxcd pair goes in etcd's buckets (`m/compact_rev` goes to
/// two keys; oxcd's own bookkeeping nowhere).
fn etcd_pairs(k: &[u8], v: &[u8]) -> Vec<(&'static [u8], Vec<u8>, Vec<u8>)> {
    let one = |bucket, key: &[u8]| vec![(bucket, key.to_vec(), v.to_vec())];
    let strip = |prefix: &str| k.strip_prefix(prefix.as_bytes());
    let hex_id = |rest: &[u8]| {
        std::str::from_utf8(rest)
            .ok()
            .and_then(|h| u64::from_str_radix(h, 16).ok())
    };
    if k == s::META_CONSISTENT_INDEX {
        one(META, CONSISTENT_INDEX)
    } else if k == s::META_COMPACT_REV {
        let Ok(main) = <[u8; 8]>::try_from(v) else {
            return vec![];
        };
        let rev = rev_bytes(i64::from_be_bytes(main));
        vec![
            (META, SCHEDULED_COMPACT_REV.to_vec(), rev.clone()),
            (META, FINISHED_COMPACT_REV.to_vec(), rev),
        ]
    } else if k == s::META_CLUSTER_VERSION {
        one(CLUSTER, CLUSTER_VERSION)
    } else if k == s::AUTH_ENABLED {
        one(AUTH, AUTH_ENABLED)
    } else if k == s::AUTH_REVISION {
        one(AUTH, AUTH_REVISION)
    } else if let Some(name) = strip(s::AUTH_USER_PREFIX) {
        one(AUTH_USERS, name)
    } else if let Some(name) = strip(s::AUTH_ROLE_PREFIX) {
        one(AUTH_ROLES, name)
    } else if let Some(id) = strip(s::META_MEMBER_PREFIX).and_then(hex_id) {
        match Member::decode(v) {
            Ok(m) => vec![(MEMBERS, member_hex(id), member_json(&m).into_bytes())],
            Err(_) => vec![],
        }
    } else if let Some(id) = strip(s::META_REMOVED_PREFIX).and_then(hex_id) {
        vec![(MEMBERS_REMOVED, member_hex(id), REMOVED.to_vec())]
    } else if let Some(alarm) = k.strip_prefix(s::ALARM_PREFIX) {
        vec![(ALARM, alarm.to_vec(), vec![])]
    } else if k.first() == Some(&s::LEASE_PREFIX) && k.len() == 9 {
        one(LEASE, &k[1..])
    } else if k.first() == Some(&s::KEY_PREFIX) && Revision::from_bytes(&k[1..]).is_some() {
        one(KEY, &k[1..])
    } else {
        vec![]
    }
}

/// oxcd's backend pairs as etcd 3.4's buckets.
pub fn to_etcd_buckets(pairs: &[Pair]) -> Buckets {
    let mut b: Buckets = BUCKETS
        .iter()
        .map(|n| (n.to_vec(), BTreeMap::new()))
        .collect();
    for p in pairs {
        for (bucket, k, v) in etcd_pairs(&p.key, &p.value) {
            b.get_mut(bucket).expect("one of BUCKETS").insert(k, v);
        }
    }
    b
}

/// oxcd's backend pairs as an etcd 3.4 backend file (what
/// `Maintenance.Snapshot` sends, before its digest).
pub fn to_etcd_db(pairs: &[Pair]) -> Vec<u8> {
    bolt::write(&to_etcd_buckets(pairs))
}

/// One etcd key as an oxcd pair, if oxcd keeps it.
fn oxcd_pair(bucket: &[u8], k: &[u8], v: &[u8]) -> io::Result<Option<Pair>> {
    let pair = |key: Vec<u8>, value: &[u8]| {
        Ok(Some(Pair {
            key,
            value: value.to_vec(),
        }))
    };
    let prefixed = |prefix: &[u8]| [prefix, k].concat();
    let hex_id = || {
        std::str::from_utf8(k)
            .ok()
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| invalid("bad member id"))
    };
    match bucket {
        KEY if Revision::from_bytes(k).is_some() => pair(prefixed(&[s::KEY_PREFIX]), v),
        LEASE if k.len() == 8 => pair(prefixed(&[s::LEASE_PREFIX]), v),
        AUTH if k == AUTH_ENABLED => pair(s::AUTH_ENABLED.to_vec(), v),
        AUTH if k == AUTH_REVISION => pair(s::AUTH_REVISION.to_vec(), v),
        AUTH_USERS => pair(prefixed(s::AUTH_USER_PREFIX.as_bytes()), v),
        AUTH_ROLES => pair(prefixed(s::AUTH_ROLE_PREFIX.as_bytes()), v),
        MEMBERS => {
            let m = member_from_json(v)?;
            let key = format!("{}{:016x}", s::META_MEMBER_PREFIX, hex_id()?);
            pair(key.into_bytes(), &m.encode_to_vec())
        }
        MEMBERS_REMOVED => {
            let key = format!("{}{:016x}", s::META_REMOVED_PREFIX, hex_id()?);
            pair(key.into_bytes(), &[])
        }
        META if k == CONSISTENT_INDEX => pair(s::META_CONSISTENT_INDEX.to_vec(), v),
        META if k == FINISHED_COMPACT_REV => {
            let (rev, _) =
                Revision::from_bytes(v).ok_or_else(|| invalid("bad compact revision"))?;
            pair(s::META_COMPACT_REV.to_vec(), &rev.main.to_be_bytes())
        }
        CLUSTER if k == CLUSTER_VERSION => pair(s::META_CLUSTER_VERSION.to_vec(), v),
        ALARM => pair(prefixed(s::ALARM_PREFIX), &[]),
        _ => Ok(None),
    }
}

/// An etcd 3.4 backend file (without its digest) as oxcd's backend pairs,
/// in key order; what oxcd has no place for is left out.
pub fn from_etcd_db(bytes: &[u8]) -> io::Result<Vec<Pair>> {
    let buckets = bolt::read(bytes).map_err(invalid)?;
    from_etcd_buckets(&buckets)
}

fn from_etcd_buckets(buckets: &Buckets) -> io::Result<Vec<Pair>> {
    let mut out = Vec::new();
    for (name, pairs) in buckets {
        for (k, v) in pairs {
            out.extend(oxcd_pair(name, k, v)?);
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// What `etcdctl snapshot status` reports of a file (etcd's
/// `snapshot.Status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// CRC-32C over every bucket's name, then its keys and values.
    pub hash: u32,
    /// The main revision of the last key in `key`.
    pub revision: i64,
    /// Keys in all buckets.
    pub total_key: u64,
    /// bbolt's `tx.Size`: the pages in use times the page size.
    pub total_size: u64,
}

/// etcd's `snapshot.Status` of a file's bytes (its digest, if any, is
/// ignored, as bbolt ignores bytes past its pages).
pub fn status(file: &[u8]) -> Result<Status, String> {
    let db = bolt::Db::open(file)?;
    let errors = db.check();
    if !errors.is_empty() {
        return Err(bolt::integrity_error(&errors));
    }
    let mut st = Status {
        total_size: db.size(),
        ..Status::default()
    };
    let mut h = Crc32c::default();
    for b in db.entries(db.root())? {
        let root = b.bucket_root().ok_or_else(|| bolt::not_a_bucket(b.key))?;
        h.update(b.key);
        for e in db.entries(root)? {
            h.update(e.key);
            if !e.bucket {
                h.update(e.value);
            }
            if b.key == KEY && e.key.len() >= 8 {
                st.revision = i64::from_be_bytes(e.key[..8].try_into().expect("8 bytes"));
            }
            st.total_key += 1;
        }
    }
    st.hash = h.finalize();
    Ok(st)
}

/// What a restored member's data dir holds: its backend and the first
/// entries of its new raft log.
pub struct Restored {
    /// The backend: the snapshot's key space, leases, auth and alarms, the
    /// new members, consistent index = the number of members.
    pub pairs: Vec<Pair>,
    /// One `ConfChangeAddNode` per member, all committed, as a new
    /// cluster's log starts.
    pub entries: Vec<Entry>,
    pub hard_state: HardState,
    pub conf_state: raft::eraftpb::ConfState,
}

/// etcd's restore, on oxcd's layout: the database's contents become a new
/// cluster of `members` whose log holds one committed conf change per
/// member (as `saveWALAndSnap` writes it), and whose backend has applied
/// them (`saveDB` sets the consistent index to the number of members).
/// The old members are dropped; the new ones have no name and client URLs
/// until each starts and publishes them.
pub fn restore(db: &[u8], members: &[Member]) -> io::Result<Restored> {
    assert!(!members.is_empty(), "a cluster has members");
    let mut pairs = from_etcd_db(db)?;
    let (conf_state, entries, hard_state) = crate::raftnode::bootstrap_log(members)?;
    let mut ops: Vec<BackendOp> = members
        .iter()
        .map(|m| BackendOp::SetMember(m.clone()))
        .collect();
    ops.push(BackendOp::SetConfState(
        conf_state.write_to_bytes().map_err(io::Error::other)?,
    ));
    ops.push(BackendOp::SetStorageVersion);
    let written = s::raw_writes(&ops, entries.len() as u64);
    let old_member = |k: &[u8]| {
        k.starts_with(s::META_MEMBER_PREFIX.as_bytes())
            || k.starts_with(s::META_REMOVED_PREFIX.as_bytes())
    };
    pairs.retain(|p| !old_member(&p.key) && p.key != s::META_CONSISTENT_INDEX);
    pairs.extend(written.into_iter().map(|(key, value)| Pair {
        key,
        value: value.expect("restore only puts"),
    }));
    pairs.sort_by(|a, b| a.key.cmp(&b.key));
    // What oxcd could not start from is refused now, not at start-up.
    s::decode_all(pairs.iter().map(|p| (&p.key[..], &p.value[..])))?;
    Ok(Restored {
        pairs,
        entries,
        hard_state,
        conf_state,
    })
}

#[cfg(test)]
mod tests;
