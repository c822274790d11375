//! An operator at work during the KV scenario's faults: after each fault it
//! defragments a random member or saves a snapshot from one
//! (`Maintenance.Defragment`, `Maintenance.Snapshot`). At the end the last
//! snapshot is restored (`oxcd::snapshot::restore`, as `etcdctl snapshot
//! restore` does) into a new one-member cluster, which must serve the key
//! space the file holds.
//!
//! What it can find: a snapshot that is not a valid etcd file (its digest,
//! bbolt's check) or not one point in the replicated history (its KV hash
//! at its revision must be every member's there, where they compacted
//! alike; a follower's snapshot may be behind the leader, as etcd's is), a
//! defragmentation that loses or reorders data (the KV checker and the
//! replicas' hashes catch it), and a restore that does not start or serves
//! other data than the file's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::runtime::{Handle, NodeHandle};
use oxcd::mvcc::KvStore;
use oxcd::pb::etcdserverpb::{
    kv_client::KvClient, maintenance_client::MaintenanceClient, DefragmentRequest, HashKvRequest,
    Member, RangeRequest, SnapshotRequest,
};
use rand::Rng;

use crate::scenario::Step;

/// How long one operator request may take (a member may be cut off).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The restored member's index (`etcd9` at 10.0.0.9).
const RESTORED: usize = 9;

/// What the operator did.
#[derive(Debug, Default)]
struct Tally {
    defrags: u32,
    snapshots: u32,
    /// Requests a fault made fail (an unreachable or stopped member).
    failed: u32,
    /// Members' hashes a snapshot's was compared with.
    compared: u32,
    /// The last snapshot saved: the database and its revision.
    last: Option<(Vec<u8>, i64)>,
}

/// The operator of a run.
#[derive(Clone)]
pub(crate) struct Operator {
    client_node: NodeHandle,
    urls: Vec<String>,
    tally: Arc<Mutex<Tally>>,
}

/// The store a snapshot file (database and digest) holds.
fn file_store(file: &[u8]) -> Result<KvStore, String> {
    store_of(oxcd::snapshot::verify_trailer(file, false)?)
}

/// The store a snapshot's database holds (an etcd backend file).
fn store_of(db: &[u8]) -> Result<KvStore, String> {
    let pairs = oxcd::snapshot::from_etcd_db(db).map_err(|e| format!("snapshot: {e}"))?;
    let loaded =
        oxcd::storage::schema::decode_all(pairs.iter().map(|p| (&p.key[..], &p.value[..])))
            .map_err(|e| format!("snapshot: {e}"))?;
    Ok(KvStore::restore(loaded.revs, loaded.compact_rev))
}

/// Every key, as a range over the whole key space.
fn everything() -> RangeRequest {
    RangeRequest {
        key: vec![0],
        range_end: vec![0],
        ..Default::default()
    }
}

impl Operator {
    pub(crate) fn new(client_node: NodeHandle, urls: Vec<String>) -> Self {
        Operator {
            client_node,
            urls,
            tally: Default::default(),
        }
    }

    /// One operator action on a random member, checked.
    pub(crate) fn step(&self) -> Step<'static> {
        let (member, snapshot) = {
            let mut rng = madsim::rand::thread_rng();
            (rng.gen_range(0..self.urls.len()), rng.gen_bool(0.5))
        };
        let op = self.clone();
        Box::pin(async move {
            let url = op.urls[member].clone();
            let urls = op.urls.clone();
            let asked = op.client_node.spawn(async move {
                let ask = async {
                    let mut m = MaintenanceClient::connect(url)
                        .await
                        .map_err(|e| e.to_string())?;
                    if !snapshot {
                        m.defragment(DefragmentRequest {})
                            .await
                            .map_err(|e| e.to_string())?;
                        return Ok(None);
                    }
                    let mut stream = m
                        .snapshot(SnapshotRequest {})
                        .await
                        .map_err(|e| e.to_string())?
                        .into_inner();
                    let mut file = Vec::new();
                    while let Some(chunk) = stream.message().await.map_err(|e| e.to_string())? {
                        file.extend(chunk.blob);
                    }
                    Ok::<_, String>(Some(file))
                };
                let file = tokio::time::timeout(REQUEST_TIMEOUT, ask)
                    .await
                    .unwrap_or_else(|_| Err("timed out".into()))?;
                // Every member's hash at the snapshot's revision, now.
                let mut hashes = Vec::new();
                if let Some(rev) = file
                    .as_deref()
                    .and_then(|f| file_store(f).ok())
                    .map(|s| s.rev())
                {
                    for u in urls {
                        let ask = async {
                            let mut m = MaintenanceClient::connect(u).await.ok()?;
                            let r = m.hash_kv(HashKvRequest { revision: rev }).await.ok()?;
                            let r = r.into_inner();
                            Some((r.hash, r.compact_revision))
                        };
                        if let Ok(Some(h)) = tokio::time::timeout(REQUEST_TIMEOUT, ask).await {
                            hashes.push(h);
                        }
                    }
                }
                Ok::<_, String>(file.map(|f| (f, hashes)))
            });
            let outcome = asked.await.map_err(|e| format!("operator task: {e}"))?;
            let mut tally = op.tally.lock().expect("lock");
            match outcome {
                Err(_) => tally.failed += 1,
                Ok(None) => {
                    tally.defrags += 1;
                    crate::coverage::hit("ops.defrag");
                }
                Ok(Some((file, hashes))) => {
                    let db = oxcd::snapshot::verify_trailer(&file, false)
                        .map_err(|e| format!("snapshot from member {member}: {e}"))?;
                    oxcd::snapshot::status(db)
                        .map_err(|e| format!("snapshot from member {member}: {e}"))?;
                    let store = store_of(db)?;
                    let rev = store.rev();
                    let (want, compacted) = (store.hash_kv(rev), store.compact_rev());
                    for (hash, at) in hashes.into_iter().filter(|(_, c)| *c == compacted) {
                        if hash != want {
                            return Err(format!(
                                "snapshot from member {member} at revision {rev} hashes {want:x}; a member's hash there is {hash:x} (both compacted at {at})"
                            ));
                        }
                        tally.compared += 1;
                    }
                    tally.snapshots += 1;
                    tally.last = Some((db.to_vec(), rev));
                    crate::coverage::hit("ops.snapshot");
                }
            }
            Ok(())
        })
    }

    /// Restores the last snapshot into a new one-member cluster, which
    /// must serve exactly the file's key space; a one-line report.
    pub(crate) async fn finish(&self, handle: &Handle) -> Result<String, String> {
        let (tally, last) = {
            let mut t = self.tally.lock().expect("lock");
            let last = t.last.take();
            let tally = format!(
                "{} defrags, {} snapshots ({} members' hashes agreed), {} refused by faults",
                t.defrags, t.snapshots, t.compared, t.failed
            );
            (tally, last)
        };
        let Some((db, rev)) = last else {
            return Ok(format!("operator: {tally}, nothing to restore"));
        };
        let name = format!("etcd{RESTORED}");
        let ip = format!("10.0.0.{RESTORED}").parse().expect("ip");
        let cfg = crate::cluster::member_config(&name, ip, "");
        let ident = oxcd::embed::identity(&cfg)?;
        let me = Member {
            id: ident.member_id,
            peer_ur_ls: cfg.initial_advertise_peer_urls.clone(),
            ..Default::default()
        };
        let restored = oxcd::snapshot::restore(&db, &[me]).map_err(|e| format!("restore: {e}"))?;
        let disk = oxcd::rt::disk::SimDisk::new();
        let backend = oxcd::storage::backend::MemBackend::new();
        {
            use oxcd::storage::backend::Backend;
            backend
                .replace_all(restored.pairs)
                .map_err(|e| format!("restore: {e}"))?;
            let (mut wal, _) =
                oxcd::storage::wal::Wal::open(Arc::new(disk.clone()), &cfg.wal_dir())
                    .map_err(|e| format!("restore: {e}"))?;
            wal.set_metadata(ident.member_id, ident.cluster_id);
            let written = wal
                .set_conf_state(&restored.conf_state)
                .and_then(|()| wal.append_entries(&restored.entries))
                .and_then(|()| wal.set_hard_state(&restored.hard_state))
                .and_then(|()| wal.sync());
            written.map_err(|e| format!("restore: {e}"))?;
        }
        let _member = crate::cluster::start_member_on(handle, RESTORED, cfg, disk, backend);
        let want = store_of(&db)?
            .range(&everything())
            .map_err(|e| format!("{e:?}"))?;
        let url = format!("http://10.0.0.{RESTORED}:2379");
        let got = self
            .client_node
            .spawn(async move {
                for _ in 0..60 {
                    madsim::time::sleep(Duration::from_millis(500)).await;
                    let Ok(mut kv) = KvClient::connect(url.clone()).await else {
                        continue;
                    };
                    if let Ok(r) = kv.range(everything()).await {
                        return Some(r.into_inner());
                    }
                }
                None
            })
            .await
            .map_err(|e| format!("restore check: {e}"))?
            .ok_or("the restored member did not serve within 30 s")?;
        if got.kvs != want.kvs {
            return Err(format!(
                "the restored member serves {} keys, the snapshot at revision {rev} holds {}",
                got.kvs.len(),
                want.kvs.len()
            ));
        }
        let served = got.header.map_or(0, |h| h.revision);
        if served != rev {
            return Err(format!(
                "the restored member is at revision {served}, its snapshot at {rev}"
            ));
        }
        Ok(format!(
            "operator: {tally}; the last snapshot (revision {rev}, {} keys) restored and served",
            want.kvs.len()
        ))
    }
}
