//! Lease requests (etcd's `v3_server.go` LeaseGrant … LeaseLeases): grants
//! and revokes go through raft; keep-alives and TimeToLive are answered by
//! the primary lessor, so a follower forwards them to the leader over the
//! peer transport (etcd's `/leases` peer endpoints).

use std::time::Duration;

use tokio::sync::oneshot;

use super::{EtcdServer, ServerError, REQUEST_TIMEOUT};
use crate::lease::{LeaseError, RenewError};
use crate::pb::etcdserverpb::{
    internal_raft_request::Request, LeaseCheckpoint, LeaseCheckpointRequest, LeaseGrantRequest,
    LeaseGrantResponse, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, ResponseHeader,
};
use crate::pb::oxcdpeer::{LeaseRenewResponse, LeaseTimeToLiveResponse as PeerTtlResponse};
use crate::raftnode::Waiter;

/// How often a keep-alive of an expired lease looks again whether its
/// revoke applied (etcd waits on the lease's revoke channel).
const EXPIRED_POLL: Duration = Duration::from_millis(50);
/// Pause between attempts to reach the leader.
const FORWARD_RETRY: Duration = Duration::from_millis(100);

/// What the leader answered a forwarded request with.
pub enum Forwarded<T> {
    Ok(T),
    NotFound,
    /// Not the leader (any more), unreachable, or timed out: try again.
    Retry,
}

impl EtcdServer {
    pub async fn lease_grant(
        &self,
        mut req: LeaseGrantRequest,
    ) -> Result<LeaseGrantResponse, ServerError> {
        // No id given: choose one, positive (etcd's reqIDGen, top bit off).
        while req.id == 0 {
            req.id = (self.next_request_id() & (i64::MAX as u64)) as i64;
        }
        let req = Request::LeaseGrant(req);
        self.check_quota(&req).await?;
        let mut r = self.propose(req, Waiter::LeaseGrant).await?;
        self.header(&mut r.header);
        Ok(r)
    }

    pub async fn lease_revoke(
        &self,
        req: LeaseRevokeRequest,
        ai: Option<&crate::auth::AuthInfo>,
    ) -> Result<LeaseRevokeResponse, ServerError> {
        let mut r = self
            .propose_as(Request::LeaseRevoke(req), ai, Waiter::LeaseRevoke)
            .await?;
        self.header(&mut r.header);
        Ok(r)
    }

    /// A keep-alive: the lease's TTL, or `LeaseError::NotFound`.
    pub async fn lease_renew(&self, id: i64) -> Result<i64, ServerError> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.renew_anywhere(id))
            .await
            .unwrap_or(Err(ServerError::Timeout))
    }

    async fn renew_anywhere(&self, id: i64) -> Result<i64, ServerError> {
        loop {
            let attempt = if self.is_leader() {
                self.renew_here(id).await?
            } else {
                match self.forward_renew(id).await {
                    Forwarded::Ok(ttl) => return Ok(ttl),
                    Forwarded::NotFound => return Err(LeaseError::NotFound.into()),
                    Forwarded::Retry => None,
                }
            };
            if let Some(ttl) = attempt {
                return Ok(ttl);
            }
            tokio::time::sleep(FORWARD_RETRY).await;
        }
    }

    /// The primary's renew; `None` when this member is not (or no longer)
    /// the primary, so the caller asks the leader.
    pub async fn renew_here(&self, id: i64) -> Result<Option<i64>, ServerError> {
        // A leader cut off from its quorum keeps its primary lessor until
        // check-quorum deposes it, up to two election timeouts later, while
        // a new leader counts the lease down from its promotion: a renewal
        // it granted then is lost, and the lease expires early. So the
        // leadership is confirmed first (a ReadIndex round), as etcd does
        // since 3.5.11 (`ensureLeadership`; the simulator found the same
        // window here).
        if !self.confirm_primary().await? {
            return Ok(None);
        }
        self.renew_confirmed(id).await
    }

    /// Whether this member may answer renewals as the primary now: its
    /// leadership confirmed by a ReadIndex round, and what it committed
    /// applied (etcd's waitAppliedIndex: a grant it committed is known).
    async fn confirm_primary(&self) -> Result<bool, ServerError> {
        if !self.ensure_leadership().await {
            return Ok(false);
        }
        self.wait_applied().await?;
        Ok(true)
    }

    /// [`Self::renew_here`] once [`Self::confirm_primary`] said yes.
    async fn renew_confirmed(&self, id: i64) -> Result<Option<i64>, ServerError> {
        loop {
            match self.renew_attempt(id).await? {
                Renewal::Renewed(ttl) => return Ok(Some(ttl)),
                Renewal::NotPrimary => return Ok(None),
                // Its revoke is on the way: answer once it applied (not
                // found) or leadership moved (ask the new leader).
                Renewal::Expired => tokio::time::sleep(EXPIRED_POLL).await,
            }
        }
    }

    /// One renewal by the confirmed primary.
    async fn renew_attempt(&self, id: i64) -> Result<Renewal, ServerError> {
        let now = self.clock.now();
        let res = self
            .shared
            .write()
            .expect("state lock")
            .state
            .lessor
            .renew(id, now);
        match res {
            Ok((ttl, clear_checkpoint)) => {
                if clear_checkpoint {
                    self.clear_checkpoint(id).await;
                }
                Ok(Renewal::Renewed(ttl))
            }
            Err(RenewError::NotFound) => Err(LeaseError::NotFound.into()),
            Err(RenewError::NotPrimary) => Ok(Renewal::NotPrimary),
            Err(RenewError::Expired) => Ok(Renewal::Expired),
        }
    }

    /// etcd clears a renewed lease's checkpointed remaining TTL through raft,
    /// so the next leader does not start it from the old figure.
    async fn clear_checkpoint(&self, id: i64) {
        let req = Request::LeaseCheckpoint(LeaseCheckpointRequest {
            checkpoints: vec![LeaseCheckpoint {
                id,
                remaining_ttl: 0,
            }],
        });
        let (reply, _ignored) = oneshot::channel();
        let _ = self.submit(req, Waiter::Done(reply)).await;
    }

    pub async fn lease_time_to_live(
        &self,
        req: LeaseTimeToLiveRequest,
    ) -> Result<LeaseTimeToLiveResponse, ServerError> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.time_to_live_anywhere(&req))
            .await
            .unwrap_or(Err(ServerError::Timeout))
    }

    async fn time_to_live_anywhere(
        &self,
        req: &LeaseTimeToLiveRequest,
    ) -> Result<LeaseTimeToLiveResponse, ServerError> {
        loop {
            if self.is_leader() {
                self.wait_applied().await?;
                if let Some(r) = self.time_to_live_here(req)? {
                    return Ok(r);
                }
            } else {
                match self.forward_time_to_live(req).await {
                    Forwarded::Ok(r) => return Ok(r),
                    Forwarded::NotFound => return Err(LeaseError::NotFound.into()),
                    Forwarded::Retry => {}
                }
            }
            tokio::time::sleep(FORWARD_RETRY).await;
        }
    }

    /// The primary's TimeToLive; `None` when this member is not primary.
    pub fn time_to_live_here(
        &self,
        req: &LeaseTimeToLiveRequest,
    ) -> Result<Option<LeaseTimeToLiveResponse>, ServerError> {
        let now = self.clock.now();
        let shared = self.read();
        let lessor = &shared.state.lessor;
        if !lessor.is_primary() {
            return Ok(None);
        }
        let l = lessor.lookup(req.id).ok_or(LeaseError::NotFound)?;
        // etcd: int64(Remaining().Seconds()), truncated.
        let ttl = l.remaining(now).map_or(i64::MAX, |r| r.as_secs() as i64);
        Ok(Some(LeaseTimeToLiveResponse {
            header: Some(ResponseHeader::default()),
            id: req.id,
            ttl,
            granted_ttl: l.ttl,
            keys: if req.keys {
                l.keys.iter().cloned().collect()
            } else {
                Vec::new()
            },
        }))
    }

    /// Every lease this member knows, soonest expiry first.
    pub fn lease_leases(&self) -> LeaseLeasesResponse {
        let now = self.clock.now();
        let shared = self.read();
        let leases = shared
            .state
            .lessor
            .leases(now)
            .into_iter()
            .map(|id| LeaseStatus { id })
            .collect();
        let mut header = Some(ResponseHeader {
            revision: shared.state.kv.rev(),
            ..Default::default()
        });
        drop(shared);
        self.header(&mut header);
        LeaseLeasesResponse { header, leases }
    }

    /// Whether this member still leads, confirmed by a quorum now.
    async fn ensure_leadership(&self) -> bool {
        self.linearizable_barrier().await.is_ok() && self.is_leader()
    }

    pub(super) fn is_leader(&self) -> bool {
        self.raft_status().is_leader
    }

    /// Waits until this member applied what it committed (etcd's
    /// `waitAppliedIndex`, bounded by its apply timeout of one second).
    async fn wait_applied(&self) -> Result<(), ServerError> {
        let caught_up = async {
            loop {
                let st = self.raft_status();
                if st.applied_index >= st.commit_index {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(1), caught_up)
            .await
            .map_err(|_| ServerError::Timeout)
    }

    async fn forward_renew(&self, id: i64) -> Forwarded<i64> {
        let Some(url) = self.leader_peer_url() else {
            return Forwarded::Retry;
        };
        self.leader_conn.renew(&url, id).await
    }

    async fn forward_time_to_live(
        &self,
        req: &LeaseTimeToLiveRequest,
    ) -> Forwarded<LeaseTimeToLiveResponse> {
        let Some(url) = self.leader_peer_url() else {
            return Forwarded::Retry;
        };
        crate::transport::forward_lease_time_to_live(&self.leader_conn, &url, *req).await
    }
}

impl EtcdServer {
    /// The leader's side of a forwarded keep-alive.
    pub(super) async fn serve_forwarded_renew(&self, id: i64) -> LeaseRenewResponse {
        let res = if self.is_leader() {
            tokio::time::timeout(REQUEST_TIMEOUT, self.renew_here(id))
                .await
                .unwrap_or(Err(ServerError::Timeout))
        } else {
            Ok(None)
        };
        renew_response(res)
    }

    /// The leader's side of a forwarded batch of keep-alives: one
    /// leadership check for all of them, then each renewed as
    /// [`Self::serve_forwarded_renew`] would, except that a lease whose
    /// revoke is on the way is answered at once, to be asked again: the
    /// batch's answer waits for its slowest renewal, and the follower's
    /// next batch for that answer.
    pub(super) async fn serve_forwarded_renew_batch(
        &self,
        ids: Vec<i64>,
    ) -> Vec<LeaseRenewResponse> {
        let confirmed = async {
            if !self.is_leader() || !self.confirm_primary().await? {
                return Ok(None);
            }
            let renewed = ids.iter().map(|&id| async move {
                match self.renew_attempt(id).await {
                    Ok(Renewal::Renewed(ttl)) => renew_response(Ok(Some(ttl))),
                    Ok(Renewal::NotPrimary) => renew_response(Ok(None)),
                    Ok(Renewal::Expired) => LeaseRenewResponse {
                        ttl: -1,
                        error: "lease expired, its revoke pending".to_string(),
                    },
                    Err(e) => renew_response(Err(e)),
                }
            });
            Ok(Some(futures::future::join_all(renewed).await))
        };
        let res = tokio::time::timeout(REQUEST_TIMEOUT, confirmed)
            .await
            .unwrap_or(Err(ServerError::Timeout));
        match res {
            Ok(Some(renewed)) => renewed,
            // Not the primary, or it could not tell: the same for each.
            other => vec![renew_response(other.map(|_| None)); ids.len()],
        }
    }

    /// The leader's side of a forwarded TimeToLive.
    pub(super) async fn serve_forwarded_time_to_live(
        &self,
        req: LeaseTimeToLiveRequest,
    ) -> PeerTtlResponse {
        let res = if self.is_leader() {
            match self.wait_applied().await {
                Ok(()) => self.time_to_live_here(&req),
                Err(e) => Err(e),
            }
        } else {
            Ok(None)
        };
        match res {
            Ok(Some(r)) => PeerTtlResponse {
                response: Some(r),
                ..Default::default()
            },
            Err(ServerError::Lease(LeaseError::NotFound)) => PeerTtlResponse {
                not_found: true,
                ..Default::default()
            },
            Ok(None) => PeerTtlResponse {
                error: "etcdserver: not primary".to_string(),
                ..Default::default()
            },
            Err(e) => PeerTtlResponse {
                error: e.to_string(),
                ..Default::default()
            },
        }
    }
}

/// What one renewal attempt by the confirmed primary found.
enum Renewal {
    Renewed(i64),
    NotPrimary,
    /// Expired, its revoke not yet applied.
    Expired,
}

/// A renewal's outcome on the leader as the follower that forwarded it
/// reads it.
fn renew_response(res: Result<Option<i64>, ServerError>) -> LeaseRenewResponse {
    match res {
        Ok(Some(ttl)) => LeaseRenewResponse {
            ttl,
            error: String::new(),
        },
        Err(ServerError::Lease(LeaseError::NotFound)) => LeaseRenewResponse::default(),
        Ok(None) => LeaseRenewResponse {
            ttl: -1,
            error: "etcdserver: not primary".to_string(),
        },
        Err(e) => LeaseRenewResponse {
            ttl: -1,
            error: e.to_string(),
        },
    }
}
