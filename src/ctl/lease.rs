//! `etcdctl lease grant|revoke|timetolive|list|keep-alive` (etcdctl's
//! `lease_command.go`).

use std::time::Duration;

use tokio::sync::mpsc;

use crate::pb::etcdserverpb::{
    lease_client::LeaseClient, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest,
};

use crate::rt::stream::ReceiverStream;

use super::global::{bad_args, call, connect, Ctx, Token, EXIT_BAD_CONNECTION};
use super::print::new_printer;
use super::util::{parse_int, parse_int_radix};
use super::{CmdResult, Fail, Output};

/// etcdctl's `leaseFromArgs`: a lease id in hex.
fn lease_from_arg(arg: &str) -> Result<i64, Fail> {
    parse_int_radix(arg, 16)
        .map_err(|e| bad_args(format!("bad lease ID arg ({e}), expecting ID in Hex")))
}

/// An RPC failure under another message: `failed to grant lease (…)`.
fn wrap(f: Fail, what: &str) -> Fail {
    Fail {
        msg: format!("{what} ({})", f.msg),
        ..f
    }
}

pub(super) async fn lease_grant(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if ctx.args().len() != 1 {
        return Err(bad_args("lease grant command needs TTL argument"));
    }
    let ttl = parse_int(&ctx.args()[0]).map_err(|e| bad_args(format!("bad TTL ({e})")))?;
    let display = new_printer(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let req = LeaseGrantRequest { ttl, id: 0 };
    let resp = call(ctx, &ep, LeaseClient::new(ch).lease_grant(ctx.req(req)))
        .await
        .map_err(|f| wrap(f, "failed to grant lease"))?;
    display.lease_grant(o, &resp)
}

pub(super) async fn lease_revoke(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if ctx.args().len() != 1 {
        return Err(bad_args("lease revoke command needs 1 argument"));
    }
    let id = lease_from_arg(&ctx.args()[0])?;
    let display = new_printer(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let resp = call(
        ctx,
        &ep,
        LeaseClient::new(ch).lease_revoke(ctx.req(LeaseRevokeRequest { id })),
    )
    .await
    .map_err(|f| wrap(f, "failed to revoke lease"))?;
    display.lease_revoke(o, id, &resp)
}

pub(super) async fn lease_time_to_live(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if ctx.args().len() != 1 {
        return Err(bad_args(
            "lease timetolive command needs lease ID as argument",
        ));
    }
    let id = lease_from_arg(&ctx.args()[0])?;
    let keys = ctx.bool("keys");
    let display = new_printer(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let req = LeaseTimeToLiveRequest { id, keys };
    let resp = call(
        ctx,
        &ep,
        LeaseClient::new(ch).lease_time_to_live(ctx.req(req)),
    )
    .await
    .map_err(|f| Fail {
        code: EXIT_BAD_CONNECTION,
        ..f
    })?;
    display.lease_time_to_live(o, &resp, keys)
}

pub(super) async fn lease_list(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let resp = call(
        ctx,
        &ep,
        LeaseClient::new(ch).lease_leases(ctx.req(LeaseLeasesRequest {})),
    )
    .await
    .map_err(|f| Fail {
        code: EXIT_BAD_CONNECTION,
        ..f
    })?;
    display.lease_leases(o, &resp)
}

/// How a keep-alive ended.
pub(super) enum KeepAliveEnd {
    /// The lease is gone (an answer with TTL 0).
    Gone,
    /// The server ended the stream.
    Closed,
    /// `each` asked to stop.
    Stopped,
}

/// Keeps lease `id` alive as clientv3 does: a request at once, then one a
/// third of the TTL after each answer, which `each` sees (and stops the
/// loop by returning `false`).
pub(super) async fn keep_alive(
    token: Token,
    ch: tonic::transport::Channel,
    id: i64,
    mut each: impl FnMut(&LeaseKeepAliveResponse) -> Result<bool, Fail>,
) -> Result<KeepAliveEnd, Fail> {
    let (tx, rx) = mpsc::channel::<LeaseKeepAliveRequest>(1);
    let lost = |st: tonic::Status| Fail(EXIT_BAD_CONNECTION, st.message().to_string());
    tx.send(LeaseKeepAliveRequest { id })
        .await
        .map_err(|_| Fail(EXIT_BAD_CONNECTION, "keep-alive stream closed".into()))?;
    let mut resps = LeaseClient::new(ch)
        .lease_keep_alive(token.req(ReceiverStream(rx)))
        .await
        .map_err(lost)?
        .into_inner();
    loop {
        let Some(resp) = resps.message().await.map_err(lost)? else {
            return Ok(KeepAliveEnd::Closed);
        };
        if resp.ttl <= 0 {
            return Ok(KeepAliveEnd::Gone);
        }
        if !each(&resp)? {
            return Ok(KeepAliveEnd::Stopped);
        }
        tokio::time::sleep(Duration::from_secs((resp.ttl / 3).max(1) as u64)).await;
        if tx.send(LeaseKeepAliveRequest { id }).await.is_err() {
            return Ok(KeepAliveEnd::Closed);
        }
    }
}

/// `lease keep-alive`: prints each answer until the lease is gone.
/// `--once`: one round trip; a lease that is gone is an error.
pub(super) async fn lease_keep_alive(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if ctx.args().len() != 1 {
        return Err(bad_args(
            "lease keep-alive command needs lease ID as argument",
        ));
    }
    let id = lease_from_arg(&ctx.args()[0])?;
    let once = ctx.bool("once");
    let display = new_printer(ctx)?;
    let (ch, _ep) = connect(ctx).await?;
    let end = keep_alive(ctx.token.clone(), ch, id, |resp| {
        display.lease_keep_alive(o, resp)?;
        Ok(!once)
    })
    .await?;
    match end {
        KeepAliveEnd::Stopped => return Ok(()),
        KeepAliveEnd::Gone if once => {
            return Err(Fail(
                EXIT_BAD_CONNECTION,
                "etcdserver: requested lease not found".into(),
            ))
        }
        _ => {}
    }
    if display.name() == "simple" {
        o.live(format!("lease {id:016x} expired or revoked.\n").as_bytes());
    }
    Ok(())
}
