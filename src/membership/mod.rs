//! The cluster's membership, as etcd's `membership.RaftCluster`: the member
//! table, the members removed for good, and the cluster version. Sans-IO:
//! changes return the backend ops that persist them.
//!
//! Every member applies the same changes to the same table in log order
//! ([`RaftCluster::validate_change`] then [`RaftCluster::apply_change`]), so
//! all accept or all refuse one. Checks that depend on one member's view
//! (started and reachable members, a learner's progress) run before
//! proposing, as in etcd ([`RaftCluster::ready_to_add_voter`],
//! [`RaftCluster::check_remove`]).

mod errors;

use std::collections::{BTreeMap, BTreeSet};

pub use self::errors::MemberError;
use crate::pb::etcdserverpb::Member;
use crate::storage::schema::{BackendOp, Loaded};

/// etcd allows one learner at a time.
pub const MAX_LEARNERS: usize = 1;

/// A membership change carried by a raft conf change entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberChange {
    AddVoter,
    AddLearner,
    Remove,
}

/// The member table, the removed members and the cluster version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftCluster {
    members: BTreeMap<u64, Member>,
    removed: BTreeSet<u64>,
    version: Option<String>,
}

impl RaftCluster {
    /// The cluster as a backend holds it.
    pub fn recover(loaded: &Loaded) -> RaftCluster {
        RaftCluster {
            members: loaded.members.iter().map(|m| (m.id, m.clone())).collect(),
            removed: loaded.removed.iter().copied().collect(),
            version: loaded.cluster_version.clone(),
        }
    }

    pub fn member(&self, id: u64) -> Option<&Member> {
        self.members.get(&id)
    }

    /// Members in id order (a member that has not published its name and
    /// client URLs yet is "unstarted").
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn list(&self) -> Vec<Member> {
        self.members.values().cloned().collect()
    }

    pub fn is_removed(&self, id: u64) -> bool {
        self.removed.contains(&id)
    }

    pub fn is_learner(&self, id: u64) -> bool {
        self.members.get(&id).is_some_and(|m| m.is_learner)
    }

    /// The version the cluster agreed on, once it has.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// etcd's `ValidateConfigurationChange`.
    pub fn validate_change(&self, change: MemberChange, m: &Member) -> Result<(), MemberError> {
        // etcd's ErrIDRemoved, which its v3 API answers as "member not
        // found": a removed id never comes back, since its peers refuse it.
        if self.removed.contains(&m.id) {
            return Err(MemberError::NotFound);
        }
        match change {
            MemberChange::AddVoter | MemberChange::AddLearner => {
                if let Some(cur) = self.members.get(&m.id) {
                    // Adding a learner as a voter promotes it.
                    if change == MemberChange::AddVoter && cur.is_learner {
                        return Ok(());
                    }
                    return Err(if change == MemberChange::AddVoter {
                        MemberError::NotLearner
                    } else {
                        MemberError::Exists
                    });
                }
                let taken = self
                    .members
                    .values()
                    .flat_map(|x| x.peer_ur_ls.iter())
                    .any(|u| m.peer_ur_ls.contains(u));
                if taken {
                    return Err(MemberError::PeerUrlExists);
                }
                let learners = self.members.values().filter(|x| x.is_learner).count();
                if change == MemberChange::AddLearner && learners >= MAX_LEARNERS {
                    return Err(MemberError::TooManyLearners);
                }
                Ok(())
            }
            MemberChange::Remove if self.members.contains_key(&m.id) => Ok(()),
            MemberChange::Remove => Err(MemberError::NotFound),
        }
    }

    /// Applies a validated change; the backend op that records it.
    pub fn apply_change(&mut self, change: MemberChange, m: &Member) -> BackendOp {
        match change {
            MemberChange::AddVoter | MemberChange::AddLearner => {
                let e = self.members.entry(m.id).or_insert_with(|| m.clone());
                e.is_learner = change == MemberChange::AddLearner;
                BackendOp::SetMember(e.clone())
            }
            MemberChange::Remove => {
                self.members.remove(&m.id);
                self.removed.insert(m.id);
                BackendOp::DeleteMember(m.id)
            }
        }
    }

    /// A member publishes its name and client URLs (etcd's
    /// `ClusterMemberAttrSet`); a removed member's late announcement changes
    /// nothing.
    pub fn set_attributes(
        &mut self,
        id: u64,
        name: &str,
        client_urls: &[String],
    ) -> Option<BackendOp> {
        let cur = self.members.get_mut(&id)?;
        cur.name = name.to_string();
        cur.client_ur_ls = client_urls.to_vec();
        Some(BackendOp::SetMember(cur.clone()))
    }

    /// New peer URLs for a member (etcd's MemberUpdate).
    pub fn update_peer_urls(&mut self, id: u64, urls: &[String]) -> Result<BackendOp, MemberError> {
        let cur = self.members.get_mut(&id).ok_or(MemberError::NotFound)?;
        cur.peer_ur_ls = urls.to_vec();
        Ok(BackendOp::SetMember(cur.clone()))
    }

    /// Sets the cluster version; `None` when it already was this one.
    pub fn set_version(&mut self, ver: &str) -> Option<BackendOp> {
        if self.version.as_deref() == Some(ver) {
            return None;
        }
        log_cluster_version(self.version.as_deref(), ver);
        self.version = Some(ver.to_string());
        Some(BackendOp::SetClusterVersion(ver.to_string()))
    }

    /// etcd's `IsReadyToAddVotingMember` (and `IsReadyToPromoteMember`, the
    /// same count): with one more voter, the started voters must still be a
    /// quorum, except that a single started member may add a second.
    pub fn ready_to_add_voter(&self) -> bool {
        let voters = self.members.values().filter(|m| !m.is_learner);
        let (n, started) = voters.fold((1, 0), |(n, started), m| {
            (n + 1, started + usize::from(!m.name.is_empty()))
        });
        let quorum = n / 2 + 1;
        (started == 1 && n == 2) || started >= quorum
    }

    /// etcd's `IsReadyToRemoveVotingMember` and, when the member to remove
    /// is up, its reachability check: the voters left must still be a
    /// quorum, counting started ones, then reachable ones.
    pub fn check_remove(
        &self,
        id: u64,
        me: u64,
        reachable: impl Fn(u64) -> bool,
    ) -> Result<(), MemberError> {
        let rest: Vec<&Member> = self
            .members
            .values()
            .filter(|v| !v.is_learner && v.id != id)
            .collect();
        let started = rest.iter().filter(|v| !v.name.is_empty()).count();
        if started < rest.len() / 2 + 1 {
            return Err(MemberError::NotEnoughStarted);
        }
        // A member that is down is safe to remove.
        if id == me || reachable(id) {
            let voters: Vec<&Member> = self.members.values().filter(|v| !v.is_learner).collect();
            let active = voters.iter().filter(|v| reachable(v.id)).count();
            if active - 1 < 1 + (voters.len() - 1) / 2 {
                return Err(MemberError::NotEnoughStarted);
            }
        }
        Ok(())
    }

    /// etcd's `isConnectedFullySince`: every voter answered lately.
    pub fn all_voters_reachable(&self, reachable: impl Fn(u64) -> bool) -> bool {
        self.members
            .values()
            .filter(|m| !m.is_learner)
            .all(|v| reachable(v.id))
    }

    /// Whether another member already uses one of `urls` (MemberUpdate).
    pub fn peer_urls_taken(&self, id: u64, urls: &[String]) -> bool {
        self.members
            .values()
            .filter(|m| m.id != id)
            .flat_map(|m| m.peer_ur_ls.iter())
            .any(|u| urls.contains(u))
    }
}

/// `3.4.0` → `3.4`, as etcd logs a cluster version.
pub fn major_minor(ver: &str) -> &str {
    match ver.match_indices('.').nth(1) {
        Some((i, _)) => &ver[..i],
        None => ver,
    }
}

/// Logs the lines etcd prints when a cluster version takes effect.
pub fn log_cluster_version(previous: Option<&str>, ver: &str) {
    match previous {
        None => tracing::info!(
            target: "etcdserver/membership",
            notice = true,
            "set the initial cluster version to {}",
            major_minor(ver)
        ),
        Some(p) => tracing::info!(
            target: "etcdserver/membership",
            notice = true,
            "updated the cluster version from {} to {}",
            major_minor(p),
            major_minor(ver)
        ),
    }
    tracing::info!(
        target: "etcdserver/api",
        "enabled capabilities for version {}",
        major_minor(ver)
    );
}

/// etcd's `types.NewURLs` check on member URLs: scheme, host and port.
pub fn check_urls(urls: &[String]) -> Result<(), MemberError> {
    let ok = |u: &str| {
        let Some(rest) = ["http://", "https://", "unix://", "unixs://"]
            .iter()
            .find_map(|s| u.strip_prefix(s))
        else {
            return false;
        };
        let Some((host, port)) = rest.rsplit_once(':') else {
            return false;
        };
        !host.is_empty() && !rest.contains('/') && port.parse::<u16>().is_ok()
    };
    if urls.is_empty() || !urls.iter().all(|u| ok(u)) {
        return Err(MemberError::BadUrls);
    }
    Ok(())
}

/// etcd's member ID: the first 8 bytes of SHA-1 over the sorted peer URLs
/// joined, then the cluster token (`membership.computeMemberId`).
pub fn compute_member_id(peer_urls: &[String], token: &str) -> u64 {
    let mut urls = peer_urls.to_vec();
    urls.sort();
    let mut b = urls.concat().into_bytes();
    b.extend_from_slice(token.as_bytes());
    let d = sha1_smol::Sha1::from(b).digest().bytes();
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// etcd's cluster ID: SHA-1 over the sorted member IDs, big-endian.
pub fn compute_cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let b: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
    let d = sha1_smol::Sha1::from(b).digest().bytes();
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests;
