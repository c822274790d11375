//! Corruption checks (etcd's `corrupt.go`): a member compares its KV hash
//! with its peers' before it serves (`--experimental-initial-corrupt-check`),
//! and the leader does every `--experimental-corrupt-check-time`, raising
//! the CORRUPT alarm through raft on a mismatch.

use std::time::Duration;

use super::{EtcdServer, ServerError, REQUEST_TIMEOUT};
use crate::mvcc::MvccError;
use crate::pb::etcdserverpb::{alarm_request, AlarmRequest, AlarmType, HashKvResponse};

/// One peer's answer to a hash request: the answer, or the last error.
struct PeerHash {
    id: u64,
    urls: Vec<String>,
    resp: Result<HashKvResponse, tonic::Status>,
}

impl EtcdServer {
    /// Asks every other member for its hash at `rev`, trying each of its
    /// peer URLs in turn (etcd's `getPeerHashKVs`).
    async fn peer_hashes(&self, rev: i64) -> Vec<PeerHash> {
        let mut out = Vec::new();
        for m in self.member_list() {
            if m.id == self.member_id || m.peer_ur_ls.is_empty() {
                continue;
            }
            let mut last = Err(tonic::Status::unavailable("no peer URL"));
            for url in &m.peer_ur_ls {
                last =
                    crate::transport::fetch_hash_kv(url, &self.peer_dialer, rev, REQUEST_TIMEOUT)
                        .await;
                match &last {
                    Ok(_) => break,
                    Err(e) => tracing::warn!(
                        local_member_id = format!("{:x}", self.member_id),
                        requested_revision = rev,
                        remote_peer_endpoint = url.as_str(),
                        error = e.message(),
                        "failed hash kv request"
                    ),
                }
            }
            out.push(PeerHash {
                id: m.id,
                urls: m.peer_ur_ls.clone(),
                resp: last,
            });
        }
        out
    }

    /// etcd's `CheckInitialHashKV`: before serving, a member whose hash
    /// differs from a peer's at the same compaction point refuses to start.
    pub async fn check_initial_hash_kv(&self) -> Result<(), String> {
        let me = format!("{:x}", self.member_id);
        tracing::info!(
            local_member_id = me.as_str(),
            timeout = ?REQUEST_TIMEOUT,
            "starting initial corruption check"
        );
        let (h, rev, crev) = self
            .hash_kv(0)
            .map_err(|e| format!("{me} failed to fetch hash ({e})"))?;
        let mut mismatch = 0;
        for p in self.peer_hashes(rev).await {
            match &p.resp {
                Ok(r) if r.hash != h && r.compact_revision == crev => {
                    tracing::warn!(
                        local_member_id = me.as_str(),
                        local_member_revision = rev,
                        local_member_compact_revision = crev,
                        local_member_hash = h,
                        remote_peer_id = format!("{:x}", p.id),
                        remote_peer_endpoints = ?p.urls,
                        remote_peer_revision = r.header.as_ref().map_or(0, |h| h.revision),
                        remote_peer_compact_revision = r.compact_revision,
                        remote_peer_hash = r.hash,
                        "found different hash values from remote peer"
                    );
                    mismatch += 1;
                }
                Ok(_) => {}
                Err(e) if e.message().ends_with(&MvccError::FutureRev.to_string()) => {
                    tracing::warn!(
                        remote_peer_id = format!("{:x}", p.id),
                        "cannot fetch hash from slow remote peer"
                    )
                }
                Err(e) if e.message().ends_with(&MvccError::Compacted.to_string()) => {
                    tracing::warn!(
                        remote_peer_id = format!("{:x}", p.id),
                        "cannot fetch hash from remote peer; local member is behind"
                    )
                }
                Err(_) => {}
            }
        }
        if mismatch > 0 {
            return Err(format!("{me} found data inconsistency with peers"));
        }
        tracing::info!(
            local_member_id = me.as_str(),
            "initial corruption checking passed; no corruption"
        );
        Ok(())
    }

    /// etcd's `monitorKVHash`: every `interval`, the leader checks.
    pub async fn monitor_kv_hash(&self, interval: Duration) {
        if interval.is_zero() {
            return std::future::pending().await;
        }
        tracing::info!(
            local_member_id = format!("{:x}", self.member_id),
            interval = ?interval,
            "enabled corruption checking"
        );
        loop {
            tokio::time::sleep(interval).await;
            if !self.is_leader() {
                continue;
            }
            if let Err(e) = self.check_hash_kv().await {
                tracing::warn!(error = %e, "failed to check hash KV");
            }
        }
    }

    /// etcd's `checkHashKV`: the leader's hash taken twice around a
    /// linearizable barrier, then every peer's; a follower ahead of the
    /// leader, or with another hash at the same compaction point, raises
    /// CORRUPT (for member 0: it is not known which copy is bad).
    pub async fn check_hash_kv(&self) -> Result<(), ServerError> {
        let (h, rev, crev) = self.hash_kv(0)?;
        let peers = self.peer_hashes(rev).await;
        self.linearizable_barrier().await?;
        let (h2, rev2, crev2) = self.hash_kv(0)?;
        let mut corrupt = h2 != h && rev2 == rev && crev == crev2;
        if corrupt {
            tracing::warn!(
                revision_1 = rev,
                compact_revision_1 = crev,
                hash_1 = h,
                revision_2 = rev2,
                compact_revision_2 = crev2,
                hash_2 = h2,
                "found hash mismatch"
            );
        }
        let mut checked = 0;
        for p in &peers {
            let Ok(r) = &p.resp else { continue };
            checked += 1;
            let peer = format!("{:x}", p.id);
            let prev = r.header.as_ref().map_or(0, |h| h.revision);
            if prev > rev2 {
                tracing::warn!(
                    leader_revision = rev2,
                    follower_revision = prev,
                    follower_peer_id = peer.as_str(),
                    "revision from follower must be less than or equal to leader's"
                );
                corrupt = true;
            }
            if r.compact_revision > crev2 {
                tracing::warn!(
                    leader_compact_revision = crev2,
                    follower_compact_revision = r.compact_revision,
                    follower_peer_id = peer.as_str(),
                    "compact revision from follower must be less than or equal to leader's"
                );
                corrupt = true;
            }
            if r.compact_revision == crev && r.hash != h {
                tracing::warn!(
                    leader_compact_revision = crev2,
                    leader_hash = h,
                    follower_compact_revision = r.compact_revision,
                    follower_hash = r.hash,
                    follower_peer_id = peer.as_str(),
                    "same compact revision then hashes must match"
                );
                corrupt = true;
            }
        }
        if corrupt {
            let raise = AlarmRequest {
                action: alarm_request::AlarmAction::Activate as i32,
                member_id: 0,
                alarm: AlarmType::Corrupt as i32,
            };
            self.alarm(raise).await?;
        }
        tracing::info!(
            number_of_peers_checked = checked,
            "finished peer corruption check"
        );
        Ok(())
    }
}
