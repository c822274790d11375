//! Workloads: clients that drive a cluster and record a history.

pub mod auth;
pub mod bank;
pub mod kv;
pub mod lease;
pub mod lock;
pub mod register;
pub mod watch;

use std::time::Duration;

use oxcd::pb::etcdserverpb::kv_client::KvClient;
use tonic::transport::Channel;

use crate::checker::linearizability::Operation;
use crate::checker::revisions::Observed;

/// The client id of a liveness probe's fresh client (after healing), and
/// how many operations it tries.
pub const PROBE_CLIENT: usize = 1000;
pub const PROBE_OPS: usize = 20;

/// Every request gives up after this long (its outcome is then unknown).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause after a failed connect before the next attempt.
pub const CONNECT_BACKOFF: Duration = Duration::from_millis(100);

/// A client's connection: to one member at a time, moving on to the next
/// after a failure.
pub struct Conn {
    urls: Vec<String>,
    current: usize,
    kv: Option<KvClient<Channel>>,
}

impl Conn {
    /// Client `id` starts at member `id % urls.len()`, to spread the load.
    pub fn new(id: usize, urls: Vec<String>) -> Self {
        assert!(!urls.is_empty(), "a client needs a member to talk to");
        Conn {
            current: id % urls.len(),
            urls,
            kv: None,
        }
    }

    /// The connected client, connecting first if needed; `None` (after a
    /// short backoff, with the next member lined up) if that fails.
    pub async fn kv(&mut self) -> Option<KvClient<Channel>> {
        if self.kv.is_none() {
            let url = self.urls[self.current].clone();
            let c = tokio::time::timeout(REQUEST_TIMEOUT, KvClient::connect(url));
            match c.await {
                Ok(Ok(c)) => self.kv = Some(c),
                _ => {
                    self.next();
                    madsim::time::sleep(CONNECT_BACKOFF).await;
                }
            }
        }
        self.kv.clone()
    }

    /// A request failed: reconnect next time, to the next member.
    pub fn next(&mut self) {
        self.kv = None;
        self.current = (self.current + 1) % self.urls.len();
    }
}

/// A recorded history: the operations, and the header revision of every
/// response (for the revision checker).
pub struct History<I, O> {
    pub ops: Vec<Operation<I, O>>,
    pub revisions: Vec<Observed>,
}

impl<I, O> Default for History<I, O> {
    fn default() -> Self {
        History {
            ops: Vec::new(),
            revisions: Vec::new(),
        }
    }
}

impl<I, O> History<I, O> {
    /// Records client `client`'s operation called at `call`: completed at
    /// `ret` with header `revision` if `output` is known, else pending forever.
    pub fn record(
        &mut self,
        client: usize,
        (call, ret): (u64, u64),
        input: I,
        output: Option<O>,
        revision: Option<i64>,
    ) {
        let ret = output.as_ref().map(|_| ret);
        if let (Some(revision), Some(time)) = (revision, ret) {
            self.revisions.push(Observed {
                client,
                time,
                revision,
            });
        }
        self.ops.push(Operation {
            client,
            call,
            ret,
            input,
            output,
        });
    }

    /// How many operations recorded after the first `before` completed.
    pub fn completed_since(&self, before: usize) -> usize {
        self.ops[before..]
            .iter()
            .filter(|o| o.output.is_some())
            .count()
    }
}
