//! Membership requests (etcd's `cluster` service on the server side): the
//! checks that depend on this member's view run here, before proposing, as
//! in etcd; the checks every member must agree on run at apply time
//! ([`crate::membership::RaftCluster::validate_change`]).

use std::sync::atomic::Ordering;
use std::time::Duration;

use prost::Message;
use tokio::sync::oneshot;

use super::{EtcdServer, ServerError, REQUEST_TIMEOUT};
use crate::membership::{check_urls, compute_member_id, MemberChange, MemberError};
use crate::pb::etcdserverpb::{internal_raft_request::Request, Member, MemberUpdateRequest};
use crate::pb::oxcdpeer::MembersResponse;
use crate::raftnode::{ProposeError, RaftCmd, Waiter};
use crate::transport::{PeerHost, PromoteError};

/// How long a membership change waits before retrying while another one
/// is being applied (etcd serialises them too).
const CONF_CHANGE_RETRY: Duration = Duration::from_millis(50);

impl EtcdServer {
    /// Whether the transport reached member `id` lately (this member: yes).
    fn reachable(&self, id: u64) -> bool {
        id == self.member_id
            || self.reachable.lock().expect("reachable lock").get(&id) == Some(&true)
    }

    /// The leader's peer URL, if there is a leader this member knows.
    pub(super) fn leader_peer_url(&self) -> Option<String> {
        let shared = self.read();
        let leader = shared.status.leader_id;
        shared
            .state
            .cluster
            .member(leader)?
            .peer_ur_ls
            .first()
            .cloned()
    }

    /// Replicates a membership change and returns the members afterwards.
    async fn propose_conf_change(
        &self,
        change: MemberChange,
        m: Member,
    ) -> Result<Vec<Member>, ServerError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut cc = raft::eraftpb::ConfChange {
            id,
            node_id: m.id,
            ..Default::default()
        };
        cc.set_change_type(match change {
            MemberChange::AddVoter => raft::eraftpb::ConfChangeType::AddNode,
            MemberChange::AddLearner => raft::eraftpb::ConfChangeType::AddLearnerNode,
            MemberChange::Remove => raft::eraftpb::ConfChangeType::RemoveNode,
        });
        cc.context = m.encode_to_vec().into();
        let attempts = async {
            loop {
                let (reply, rx) = oneshot::channel();
                let cmd = RaftCmd::ProposeConfChange {
                    cc: cc.clone(),
                    reply,
                };
                self.tx.send(cmd).await.map_err(|_| ServerError::Stopped)?;
                match rx.await.map_err(|_| ServerError::Stopped)? {
                    Err(ProposeError::ConfChangePending) => {
                        tokio::time::sleep(CONF_CHANGE_RETRY).await
                    }
                    res => return Ok(res?),
                }
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, attempts)
            .await
            .unwrap_or(Err(ServerError::Timeout))
    }

    /// etcd's MemberAdd: a new member (or learner) with these peer URLs.
    /// Returns the new member and the members afterwards.
    pub async fn member_add(
        &self,
        peer_urls: Vec<String>,
        is_learner: bool,
    ) -> Result<(Member, Vec<Member>), ServerError> {
        check_urls(&peer_urls)?;
        // etcd salts the ID with the time; the runtime seam's randomness
        // serves the same purpose and stays deterministic in simulation.
        let salt = crate::rt::rand::gen_range(0..u64::MAX).to_string();
        let m = Member {
            id: compute_member_id(&peer_urls, &salt),
            name: String::new(),
            peer_ur_ls: peer_urls,
            client_ur_ls: vec![],
            is_learner,
        };
        let change = if is_learner {
            MemberChange::AddLearner
        } else {
            MemberChange::AddVoter
        };
        {
            let shared = self.read();
            let cluster = &shared.state.cluster;
            cluster.validate_change(change, &m)?;
            if !is_learner && self.strict_reconfig {
                if !cluster.ready_to_add_voter() {
                    return Err(MemberError::NotEnoughStarted.into());
                }
                if !cluster.all_voters_reachable(|id| self.reachable(id)) {
                    return Err(MemberError::Unhealthy.into());
                }
            }
        }
        let list = self.propose_conf_change(change, m.clone()).await?;
        Ok((m, list))
    }

    /// Whether `id` was a member and was removed (it can never come back).
    pub fn member_is_removed(&self, id: u64) -> bool {
        self.read().state.cluster.is_removed(id)
    }

    /// etcd's MemberRemove.
    pub async fn member_remove(&self, id: u64) -> Result<Vec<Member>, ServerError> {
        let m = {
            let shared = self.read();
            let cluster = &shared.state.cluster;
            let m = cluster.member(id).cloned().ok_or(MemberError::NotFound)?;
            if !m.is_learner && self.strict_reconfig {
                cluster.check_remove(id, self.member_id, |v| self.reachable(v))?;
            }
            m
        };
        self.propose_conf_change(MemberChange::Remove, m).await
    }

    /// etcd's MemberUpdate: new peer URLs for a member.
    pub async fn member_update(
        &self,
        id: u64,
        peer_urls: Vec<String>,
    ) -> Result<Vec<Member>, ServerError> {
        check_urls(&peer_urls)?;
        {
            let shared = self.read();
            let cluster = &shared.state.cluster;
            if cluster.member(id).is_none() {
                return Err(MemberError::NotFound.into());
            }
            if cluster.peer_urls_taken(id, &peer_urls) {
                return Err(MemberError::PeerUrlExists.into());
            }
        }
        let update = MemberUpdateRequest {
            id,
            peer_ur_ls: peer_urls,
        };
        self.propose(Request::OxcdMemberUpdate(update), Waiter::Members)
            .await
    }

    /// etcd's MemberPromote: only a learner in sync with the leader; a
    /// follower asks the leader, which alone knows the learner's progress.
    pub async fn member_promote(&self, id: u64) -> Result<Vec<Member>, ServerError> {
        let mut m = {
            let shared = self.read();
            let cluster = &shared.state.cluster;
            let m = cluster.member(id).cloned().ok_or(MemberError::NotFound)?;
            if !m.is_learner {
                return Err(MemberError::NotLearner.into());
            }
            // etcd's IsReadyToPromoteMember (the learner's progress is
            // checked below whatever --strict-reconfig-check says).
            if self.strict_reconfig && !cluster.ready_to_add_voter() {
                return Err(MemberError::NotEnoughStarted.into());
            }
            m
        };
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(RaftCmd::LearnerReady { id, reply })
            .await
            .map_err(|_| ServerError::Stopped)?;
        match rx.await.map_err(|_| ServerError::Stopped)? {
            Ok(true) => {}
            Ok(false) => return Err(MemberError::LearnerNotReady.into()),
            Err(_) => return self.forward_promote(id).await,
        }
        m.is_learner = false;
        self.propose_conf_change(MemberChange::AddVoter, m).await
    }

    /// A follower's promote: the leader does it.
    async fn forward_promote(&self, id: u64) -> Result<Vec<Member>, ServerError> {
        let url = self.leader_peer_url().ok_or(ServerError::NoLeader)?;
        match crate::transport::forward_promote(&self.leader_conn, &url, id).await {
            Ok(()) => Ok(self.member_list()),
            Err(PromoteError::Refused(e)) => Err(e.into()),
            Err(PromoteError::Failed(_)) => Err(ServerError::Timeout),
        }
    }
}

/// The server's face to the peer service.
#[tonic::async_trait]
impl PeerHost for EtcdServer {
    fn metrics(&self) -> &crate::metrics::Metrics {
        EtcdServer::metrics(self)
    }

    fn members(&self) -> MembersResponse {
        MembersResponse {
            cluster_id: self.cluster_id,
            members: self.member_list(),
        }
    }

    async fn promote(&self, id: u64) -> Result<(), PromoteError> {
        match self.member_promote(id).await {
            Ok(_) => Ok(()),
            Err(ServerError::Member(e)) => Err(PromoteError::Refused(e)),
            Err(e) => Err(PromoteError::Failed(e.to_string())),
        }
    }

    async fn lease_renew(&self, id: i64) -> crate::pb::oxcdpeer::LeaseRenewResponse {
        self.serve_forwarded_renew(id).await
    }

    async fn lease_renew_batch(
        &self,
        ids: Vec<i64>,
    ) -> Vec<crate::pb::oxcdpeer::LeaseRenewResponse> {
        self.serve_forwarded_renew_batch(ids).await
    }

    async fn lease_time_to_live(
        &self,
        req: crate::pb::etcdserverpb::LeaseTimeToLiveRequest,
    ) -> crate::pb::oxcdpeer::LeaseTimeToLiveResponse {
        self.serve_forwarded_time_to_live(req).await
    }

    fn is_removed(&self, id: u64) -> bool {
        self.member_is_removed(id)
    }

    fn hash_kv(&self, rev: i64) -> Result<crate::pb::etcdserverpb::HashKvResponse, tonic::Status> {
        let (hash, revision, compact_revision) =
            EtcdServer::hash_kv(self, rev).map_err(crate::v3rpc::errors::to_status)?;
        Ok(crate::pb::etcdserverpb::HashKvResponse {
            header: Some(self.header_at(revision)),
            hash,
            compact_revision,
            ..Default::default()
        })
    }
}
