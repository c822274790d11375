//! Every key the backend holds, in one place: what each domain writes
//! ([`BackendOp`]), how it is laid out, and how a backend's contents read
//! back at start-up ([`Loaded`]). A new domain (lease, auth, alarm) adds its
//! ops and its key prefix here.
//!
//! | key | value |
//! |---|---|
//! | `k` + revision bytes (+ `t` for a tombstone) | encoded `mvccpb.KeyValue` |
//! | `l` + lease id, i64 big-endian | encoded `leasepb.Lease` (etcd's `lease` bucket) |
//! | `a/enabled` | `1` or `0`: whether auth is enabled (etcd's `auth` bucket) |
//! | `a/revision` | the auth revision, u64 big-endian |
//! | `a/user/<name>` | encoded `authpb.User` (etcd's `authUsers` bucket) |
//! | `a/role/<name>` | encoded `authpb.Role` (etcd's `authRoles` bucket) |
//! | `m/compact_rev` | the compaction point, i64 big-endian |
//! | `m/consistent_index` | index of the last applied raft entry, u64 big-endian |
//! | `m/member/<id hex>` | encoded `etcdserverpb.Member` |
//! | `m/removed/<id hex>` | empty: a member removed for good (etcd's `members_removed`) |
//! | `m/conf_state` | encoded raft `ConfState` as of the consistent index |
//! | `m/cluster_version` | the version the cluster agreed on |
//! | `m/snapshot` | `(index, term)` of the last snapshot installed |
//! | `m/storage_version` | [`STORAGE_VERSION`] |
//! | `v2/store` | the v2 store (`v2store::Store::save`), when v2 ever wrote |
//! | `al/` + encoded `etcdserverpb.AlarmMember` | empty: an active alarm (etcd's `alarm` bucket) |

use std::io;

use prost::Message;

use crate::mvcc::Revision;
use crate::pb::etcdserverpb::{AlarmMember, Member};
use crate::pb::mvccpb::KeyValue;
use crate::pb::{authpb, leasepb};

pub(crate) const KEY_PREFIX: u8 = b'k';
pub(crate) const LEASE_PREFIX: u8 = b'l';
pub(crate) const META_CONSISTENT_INDEX: &[u8] = b"m/consistent_index";
pub(crate) const META_COMPACT_REV: &[u8] = b"m/compact_rev";
pub(crate) const META_MEMBER_PREFIX: &str = "m/member/";
pub(crate) const META_REMOVED_PREFIX: &str = "m/removed/";
const META_CONF_STATE: &[u8] = b"m/conf_state";
pub(super) const META_SNAPSHOT: &[u8] = b"m/snapshot";
pub(crate) const META_CLUSTER_VERSION: &[u8] = b"m/cluster_version";
const META_STORAGE_VERSION: &[u8] = b"m/storage_version";
pub(crate) const AUTH_ENABLED: &[u8] = b"a/enabled";
pub(crate) const AUTH_REVISION: &[u8] = b"a/revision";
pub(crate) const AUTH_USER_PREFIX: &str = "a/user/";
pub(crate) const AUTH_ROLE_PREFIX: &str = "a/role/";
const V2_STORE: &[u8] = b"v2/store";
pub(crate) const ALARM_PREFIX: &[u8] = b"al/";

/// The layout of raft entries and backend keys this build writes. Version 2
/// carries etcd's `InternalRaftRequest` field numbers; data written before
/// (version 1, no marker) cannot be read: a put would decode as a range.
pub const STORAGE_VERSION: u32 = 2;

/// A change the backend must make, in order, to mirror the applied state.
#[derive(Clone, Debug, PartialEq)]
pub enum BackendOp {
    /// Store `kv` under its revision (a tombstone carries only the key).
    PutRev {
        rev: Revision,
        tombstone: bool,
        kv: KeyValue,
    },
    /// Physically remove a compacted revision.
    DeleteRev {
        rev: Revision,
        tombstone: bool,
    },
    /// The store is compacted up to this main revision.
    SetCompacted(i64),
    /// A member and its attributes.
    SetMember(Member),
    /// A member left the cluster (and is remembered as removed, as etcd's
    /// `members_removed` bucket does, so it cannot come back).
    DeleteMember(u64),
    /// The raft configuration as of this batch (encoded `ConfState`).
    SetConfState(Vec<u8>),
    /// The version the cluster agreed on (`3.4.0`).
    SetClusterVersion(String),
    /// Marks the data as written in [`STORAGE_VERSION`]'s layout.
    SetStorageVersion,
    /// A lease granted (or its checkpointed remaining TTL).
    PutLease(leasepb::Lease),
    /// A lease revoked.
    DeleteLease(i64),
    /// Auth turned on or off.
    SetAuthEnabled(bool),
    /// The auth revision after a change.
    SetAuthRevision(u64),
    /// A user added or changed.
    PutAuthUser(authpb::User),
    DeleteAuthUser(String),
    /// A role added or changed.
    PutAuthRole(authpb::Role),
    DeleteAuthRole(String),
    /// The whole v2 store after a batch that changed it (etcd keeps it in
    /// its raft snapshots; here it rides in the backend with the
    /// consistent index, so a restart replays the log from there).
    SetV2Store(Vec<u8>),
    /// An alarm raised (etcd keeps it as a key of its `alarm` bucket).
    PutAlarm(AlarmMember),
    /// An alarm cleared.
    DeleteAlarm(AlarmMember),
}

/// What a backend holds, read at start-up.
#[derive(Debug, Default)]
pub struct Loaded {
    /// `(revision, tombstone, kv)` in ascending revision order.
    pub revs: Vec<(Revision, bool, KeyValue)>,
    pub compact_rev: i64,
    pub consistent_index: u64,
    /// The members and their attributes.
    pub members: Vec<Member>,
    /// Members removed from the cluster.
    pub removed: Vec<u64>,
    /// The raft configuration as of `consistent_index` (encoded `ConfState`).
    pub conf_state: Option<Vec<u8>>,
    /// `(index, term)` of the last snapshot installed from the leader.
    pub snapshot: Option<(u64, u64)>,
    /// The version the cluster agreed on, once it has.
    pub cluster_version: Option<String>,
    /// The layout the data was written in (`None`: before version 2, or empty).
    pub storage_version: Option<u32>,
    /// Every lease, by id.
    pub leases: Vec<leasepb::Lease>,
    pub auth_enabled: bool,
    /// 0 when the store never changed.
    pub auth_revision: u64,
    pub users: Vec<authpb::User>,
    pub roles: Vec<authpb::Role>,
    /// The saved v2 store, if v2 ever wrote.
    pub v2_store: Option<Vec<u8>>,
    /// The active alarms.
    pub alarms: Vec<AlarmMember>,
}

fn lease_key(id: i64) -> Vec<u8> {
    let mut k = vec![LEASE_PREFIX];
    k.extend(id.to_be_bytes());
    k
}

fn alarm_key(a: &AlarmMember) -> Vec<u8> {
    [ALARM_PREFIX, &a.encode_to_vec()].concat()
}

fn rev_key(rev: &Revision, tombstone: bool) -> Vec<u8> {
    let mut k = vec![KEY_PREFIX];
    k.extend(rev.to_bytes(tombstone));
    k
}

/// Turns ops into raw key/value writes (`None` value = delete), ending with
/// the consistent index, so that both land in one atomic batch.
pub fn raw_writes(ops: &[BackendOp], consistent_index: u64) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut w = Vec::with_capacity(ops.len() + 1);
    for op in ops {
        match op {
            BackendOp::PutRev { rev, tombstone, kv } => {
                w.push((rev_key(rev, *tombstone), Some(kv.encode_to_vec())))
            }
            BackendOp::DeleteRev { rev, tombstone } => w.push((rev_key(rev, *tombstone), None)),
            BackendOp::SetCompacted(r) => {
                w.push((META_COMPACT_REV.to_vec(), Some(r.to_be_bytes().to_vec())))
            }
            BackendOp::SetMember(m) => {
                let k = format!("{META_MEMBER_PREFIX}{:016x}", m.id).into_bytes();
                w.push((k, Some(m.encode_to_vec())));
            }
            BackendOp::DeleteMember(id) => {
                let k = format!("{META_MEMBER_PREFIX}{id:016x}").into_bytes();
                w.push((k, None));
                let k = format!("{META_REMOVED_PREFIX}{id:016x}").into_bytes();
                w.push((k, Some(Vec::new())));
            }
            BackendOp::SetConfState(cs) => w.push((META_CONF_STATE.to_vec(), Some(cs.clone()))),
            BackendOp::SetClusterVersion(v) => {
                w.push((META_CLUSTER_VERSION.to_vec(), Some(v.clone().into_bytes())))
            }
            BackendOp::SetStorageVersion => w.push((
                META_STORAGE_VERSION.to_vec(),
                Some(STORAGE_VERSION.to_be_bytes().to_vec()),
            )),
            BackendOp::PutLease(l) => w.push((lease_key(l.id), Some(l.encode_to_vec()))),
            BackendOp::DeleteLease(id) => w.push((lease_key(*id), None)),
            BackendOp::SetAuthEnabled(on) => {
                w.push((AUTH_ENABLED.to_vec(), Some(vec![u8::from(*on)])))
            }
            BackendOp::SetAuthRevision(r) => {
                w.push((AUTH_REVISION.to_vec(), Some(r.to_be_bytes().to_vec())))
            }
            BackendOp::PutAuthUser(u) => {
                let mut k = AUTH_USER_PREFIX.as_bytes().to_vec();
                k.extend(&u.name);
                w.push((k, Some(u.encode_to_vec())));
            }
            BackendOp::DeleteAuthUser(name) => {
                w.push((format!("{AUTH_USER_PREFIX}{name}").into_bytes(), None))
            }
            BackendOp::PutAuthRole(r) => {
                let mut k = AUTH_ROLE_PREFIX.as_bytes().to_vec();
                k.extend(&r.name);
                w.push((k, Some(r.encode_to_vec())));
            }
            BackendOp::DeleteAuthRole(name) => {
                w.push((format!("{AUTH_ROLE_PREFIX}{name}").into_bytes(), None))
            }
            BackendOp::SetV2Store(b) => w.push((V2_STORE.to_vec(), Some(b.clone()))),
            BackendOp::PutAlarm(a) => w.push((alarm_key(a), Some(Vec::new()))),
            BackendOp::DeleteAlarm(a) => w.push((alarm_key(a), None)),
        }
    }
    w.push((
        META_CONSISTENT_INDEX.to_vec(),
        Some(consistent_index.to_be_bytes().to_vec()),
    ));
    w
}

fn be<const N: usize>(v: &[u8], what: &str) -> io::Result<[u8; N]> {
    v.try_into()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("backend: bad {what}")))
}

fn member_id(hex: &[u8]) -> io::Result<u64> {
    std::str::from_utf8(hex)
        .ok()
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "backend: bad member id"))
}

/// Reads a backend's pairs (in key order) back into what they mean.
pub fn decode_all<'a>(items: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> io::Result<Loaded> {
    let bad =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("backend: bad {what}"));
    let mut l = Loaded {
        compact_rev: -1,
        ..Default::default()
    };
    for (k, v) in items {
        if k == META_CONSISTENT_INDEX {
            l.consistent_index = u64::from_be_bytes(be(v, "index")?);
        } else if k == META_COMPACT_REV {
            l.compact_rev = i64::from_be_bytes(be(v, "compact rev")?);
        } else if k == META_CONF_STATE {
            l.conf_state = Some(v.to_vec());
        } else if k == META_CLUSTER_VERSION {
            let v = String::from_utf8(v.to_vec()).map_err(|_| bad("cluster version"))?;
            l.cluster_version = Some(v);
        } else if k == META_STORAGE_VERSION {
            l.storage_version = Some(u32::from_be_bytes(be(v, "storage version")?));
        } else if k == META_SNAPSHOT {
            let v: [u8; 16] = be(v, "snapshot marker")?;
            let n = |b: &[u8]| u64::from_be_bytes(b.try_into().expect("8 bytes"));
            l.snapshot = Some((n(&v[..8]), n(&v[8..])));
        } else if k == V2_STORE {
            l.v2_store = Some(v.to_vec());
        } else if k == AUTH_ENABLED {
            l.auth_enabled = v == [1];
        } else if k == AUTH_REVISION {
            l.auth_revision = u64::from_be_bytes(be(v, "auth revision")?);
        } else if let Some(alarm) = k.strip_prefix(ALARM_PREFIX) {
            l.alarms
                .push(AlarmMember::decode(alarm).map_err(|_| bad("alarm"))?);
        } else if k.starts_with(AUTH_USER_PREFIX.as_bytes()) {
            l.users
                .push(authpb::User::decode(v).map_err(|_| bad("user"))?);
        } else if k.starts_with(AUTH_ROLE_PREFIX.as_bytes()) {
            l.roles
                .push(authpb::Role::decode(v).map_err(|_| bad("role"))?);
        } else if let Some(id) = k.strip_prefix(META_REMOVED_PREFIX.as_bytes()) {
            l.removed.push(member_id(id)?);
        } else if k.starts_with(META_MEMBER_PREFIX.as_bytes()) {
            l.members
                .push(Member::decode(v).map_err(|_| bad("member"))?);
        } else if k.first() == Some(&LEASE_PREFIX) && k.len() == 9 {
            l.leases
                .push(leasepb::Lease::decode(v).map_err(|_| bad("lease"))?);
        } else if k.first() == Some(&KEY_PREFIX) {
            let (rev, tomb) = Revision::from_bytes(&k[1..]).ok_or_else(|| bad("revision"))?;
            let kv = KeyValue::decode(v).map_err(|_| bad("key-value"))?;
            l.revs.push((rev, tomb, kv));
        }
    }
    check_history(&l.revs)?;
    Ok(l)
}

/// The store is rebuilt from the revisions on the promise that they are
/// what oxcd wrote: positive and ascending (byte order is numeric order
/// only for positive revisions), and no key deleted twice without a put
/// between. Anything else is a corrupt backend or snapshot, refused here
/// rather than found by an assertion while rebuilding (the `snapshot` fuzz
/// target found that).
fn check_history(revs: &[(Revision, bool, KeyValue)]) -> io::Result<()> {
    let corrupt =
        |why: String| io::Error::new(io::ErrorKind::InvalidData, format!("backend: {why}"));
    let mut live: std::collections::HashMap<&[u8], bool> = Default::default();
    let mut last: Option<Revision> = None;
    for (rev, tombstone, kv) in revs {
        if rev.main <= 0 || rev.sub < 0 || last.is_some_and(|l| *rev <= l) {
            return Err(corrupt(format!("revision {rev:?} out of order")));
        }
        last = Some(*rev);
        let was = live.insert(&kv.key, !tombstone);
        if *tombstone && was == Some(false) {
            return Err(corrupt(format!("key deleted twice, at {rev:?}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden: the layout is on disk; changing it needs a new STORAGE_VERSION.
    #[test]
    fn the_layout_is_stable() {
        let ops = [
            BackendOp::PutRev {
                rev: Revision::new(2, 0),
                tombstone: false,
                kv: KeyValue {
                    key: b"a".to_vec(),
                    ..Default::default()
                },
            },
            BackendOp::DeleteMember(0x2a),
            BackendOp::SetStorageVersion,
            BackendOp::PutLease(leasepb::Lease {
                id: 0x2a,
                ttl: 5,
                remaining_ttl: 0,
            }),
        ];
        let keys: Vec<String> = raw_writes(&ops, 7)
            .into_iter()
            .map(|(k, v)| {
                format!(
                    "{} {}",
                    String::from_utf8_lossy(&k).escape_debug(),
                    v.map_or(-1, |v| v.len() as i64)
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                "k\\0\\0\\0\\0\\0\\0\\0\\u{2}_\\0\\0\\0\\0\\0\\0\\0\\0 3",
                "m/member/000000000000002a -1",
                "m/removed/000000000000002a 0",
                "m/storage_version 4",
                "l\\0\\0\\0\\0\\0\\0\\0* 4",
                "m/consistent_index 8",
            ]
        );
    }

    /// Revisions out of numeric order (a negative main sorts after the
    /// positive ones by bytes) and a key deleted twice are refused as
    /// corrupt, not handed to the store to trip over.
    #[test]
    fn a_corrupt_history_is_refused() {
        let put = |main: i64, key: &str, tombstone: bool| BackendOp::PutRev {
            rev: Revision::new(main, 0),
            tombstone,
            kv: KeyValue {
                key: key.into(),
                mod_revision: main,
                ..Default::default()
            },
        };
        let decode = |ops: &[BackendOp]| {
            let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = raw_writes(ops, 1)
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?)))
                .collect();
            pairs.sort();
            decode_all(pairs.iter().map(|(k, v)| (&k[..], &v[..])))
        };
        decode(&[put(2, "a", false), put(3, "a", true), put(4, "a", false)]).unwrap();
        let e = decode(&[put(2, "a", false), put(-3, "b", false)]).unwrap_err();
        assert!(e.to_string().contains("out of order"), "{e}");
        let e = decode(&[put(2, "a", false), put(3, "a", true), put(4, "a", true)]).unwrap_err();
        assert!(e.to_string().contains("deleted twice"), "{e}");
    }
}
