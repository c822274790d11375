//! clientv3's `concurrency.Session`, as `etcdctl lock` and `elect` use it:
//! a lease kept alive for as long as the command runs. The lock and the
//! election themselves run in the server (the v3lock and v3election
//! services run the same recipes as etcdctl's clientv3 would).

use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::pb::etcdserverpb::{lease_client::LeaseClient, LeaseGrantRequest};

use super::global::{call, Ctx};
use super::lease::keep_alive;
use super::Fail;

/// A session's lease and its keep-alive.
pub(super) struct Session {
    pub lease: i64,
    keeper: JoinHandle<()>,
}

impl Session {
    /// Grants a lease of `ttl` seconds and keeps it alive.
    pub async fn new(ctx: &Ctx, ch: &Channel, ep: &str, ttl: i64) -> Result<Session, Fail> {
        let req = LeaseGrantRequest { ttl, id: 0 };
        let lease = call(
            ctx,
            ep,
            LeaseClient::new(ch.clone()).lease_grant(ctx.req(req)),
        )
        .await?
        .id;
        let ch = ch.clone();
        let token = ctx.token.clone();
        let keeper = tokio::spawn(async move {
            let _ = keep_alive(token, ch, lease, |_| Ok(true)).await;
        });
        Ok(Session { lease, keeper })
    }

    /// Resolves when the lease could not be kept alive (it expired, was
    /// revoked, or the server went away): clientv3's `Session.Done`.
    pub async fn done(&mut self) {
        let _ = (&mut self.keeper).await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}
