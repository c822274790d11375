//! The v2 keys API on the member (etcd's `v2_server.go`): writes and quorum
//! reads go through raft as `InternalRaftRequest.v2`; plain reads and
//! watches are answered from this member's store; the leader expires TTL
//! keys by proposing `SYNC` (etcd's `sync`, every 500 ms while it leads
//! and the store has TTL keys).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::{EtcdServer, ServerError};
use crate::pb::etcdserverpb::{internal_raft_request, Request};
use crate::raftnode::Waiter;
use crate::v2auth;
use crate::v2http::{LocalAnswer, ResponseIds, V2Answer};
use crate::v2store::{Event, WatchPoll, WatcherId};

/// etcd's `syncTicker`.
const SYNC_INTERVAL: Duration = Duration::from_millis(500);

impl EtcdServer {
    /// Proposes a v2 request and waits for what applying it answered.
    pub async fn v2_propose(&self, mut r: Request) -> Result<V2Answer, ServerError> {
        r.id = self.next_request_id();
        self.propose(internal_raft_request::Request::V2(r), Waiter::V2)
            .await
    }

    /// A GET or HEAD (or a `wait` GET's watcher) answered by this member.
    pub fn v2_local(&self, r: &Request) -> LocalAnswer {
        let now = crate::rt::time::unix_nanos();
        let mut shared = self.shared.write().expect("state lock");
        crate::v2http::serve_local(&mut shared.state.v2, r, now)
    }

    /// Drains a v2 watcher's mailbox.
    pub fn v2_poll(&self, id: WatcherId) -> WatchPoll {
        self.shared
            .write()
            .expect("state lock")
            .state
            .v2
            .poll_watcher(id)
    }

    /// Forgets a v2 watcher whose client went away.
    pub fn v2_remove(&self, id: WatcherId) {
        self.shared
            .write()
            .expect("state lock")
            .state
            .v2
            .remove_watcher(id);
    }

    /// Woken after every applied batch that changed the v2 store.
    pub fn v2_changed(&self) -> Arc<tokio::sync::Notify> {
        self.v2_changed.clone()
    }

    /// `/v2/stats/store`.
    pub fn v2_store_stats(&self) -> String {
        self.read().state.v2.json_stats()
    }

    /// The ids and raft position every v2 keys answer carries.
    pub fn v2_ids(&self) -> ResponseIds {
        let st = self.raft_status();
        ResponseIds {
            cluster_id: self.cluster_id,
            raft_term: st.term,
            raft_index: st.commit_index,
        }
    }

    /// etcd's leader loop part that expires v2 TTL keys: while this member
    /// leads and the store has any, propose `SYNC` with the time now, so
    /// every member expires the same keys at the same log position.
    pub async fn sync_v2_ttls(&self) {
        loop {
            tokio::time::sleep(SYNC_INTERVAL).await;
            let due = self.raft_status().is_leader && self.read().state.v2.has_ttl_keys();
            if !due {
                continue;
            }
            let sync = Request {
                method: "SYNC".to_string(),
                time: crate::rt::time::unix_nanos(),
                ..Default::default()
            };
            if let Err(e) = self.v2_propose(sync).await {
                tracing::warn!(target: "etcdserver", "failed to sync the v2 store: {e}");
            }
        }
    }
}

/// v2 auth's store calls (etcd's `server.Do`): a GET is answered here, a
/// QGET, PUT or DELETE goes through raft; passwords are hashed and checked
/// off the async workers, as the v3 auth's are.
impl v2auth::Doer for EtcdServer {
    async fn do_request(&self, mut r: Request) -> Result<Event, v2auth::Error> {
        if r.method == "GET" {
            return match self.v2_local(&r) {
                LocalAnswer::Event(e) => Ok(*e),
                LocalAnswer::Error(e) => Err(v2auth::Error::Store(e)),
                LocalAnswer::Watch(_) => unreachable!("v2 auth never waits"),
            };
        }
        assert!(crate::v2http::needs_consensus(&mut r), "{}", r.method);
        match self.v2_propose(r).await {
            Ok(V2Answer::Event(e)) => Ok(*e),
            Ok(V2Answer::Error(e)) => Err(v2auth::Error::Store(e)),
            Ok(other) => Err(v2auth::Error::Internal(format!(
                "unexpected v2 answer {other:?}"
            ))),
            Err(e) => Err(v2auth::Error::Internal(e.to_string())),
        }
    }

    async fn hash_password(&self, password: String) -> Result<String, v2auth::Error> {
        self.hash(password)
            .await
            .map_err(|e| v2auth::Error::Internal(e.to_string()))
    }

    async fn check_password(&self, hash: String, password: String) -> bool {
        self.password_matches(password, hash).await.unwrap_or(false)
    }

    fn ensured_once(&self) -> &AtomicBool {
        &self.v2auth_ensured
    }
}
