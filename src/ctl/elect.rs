//! `etcdctl elect` (etcdctl's `elect_command.go`): campaigns with a
//! proposal and, once elected, prints the leader key and leads until
//! SIGINT or SIGTERM (then resigns) or the session's lease is lost; with
//! `--listen`, prints every leader and proclamation of the election.

use crate::pb::etcdserverpb::{kv_client::KvClient, RangeRequest, RangeResponse};
use crate::pb::v3electionpb::{
    election_client::ElectionClient, CampaignRequest, LeaderRequest, ResignRequest,
};

use super::global::{bad_args, call, connect, rpc_failure, Ctx, EXIT_ERROR};
use super::print::{new_printer, Printer};
use super::session::Session;
use super::{CmdResult, Fail, Output};
use crate::rt::signal::interrupted;
use crate::server::SESSION_TTL;

pub(super) async fn elect(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let args = ctx.args();
    if args.len() != 1 && args.len() != 2 {
        return Err(bad_args(
            "elect takes one election name argument and an optional proposal argument",
        ));
    }
    let listen = ctx.bool("listen");
    if args.len() == 1 && !listen {
        return Err(bad_args("no proposal argument but -l not set"));
    }
    if args.len() == 2 && listen {
        return Err(bad_args("proposal given but -l is set"));
    }
    let display = new_printer(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let mut session = Session::new(ctx, &ch, &ep, SESSION_TTL).await?;
    let name = args[0].clone().into_bytes();
    if listen {
        return observe(ctx, &ch, name, &*display, o).await;
    }
    let mut elections = ElectionClient::new(ch.clone());
    let req = CampaignRequest {
        name,
        lease: session.lease,
        value: args[1].clone().into_bytes(),
    };
    // A signal while campaigning ends the campaign; dropping the call makes
    // the server withdraw the candidacy.
    let elected = tokio::select! {
        r = elections.campaign(ctx.req(req)) => r.map_err(|st| rpc_failure(&ep, &st))?.into_inner(),
        _ = interrupted() => return Err(Fail(EXIT_ERROR, "context canceled".into())),
    };
    let leader = elected.leader.unwrap_or_default();
    let get = RangeRequest {
        key: leader.key.clone(),
        ..Default::default()
    };
    let resp = call(ctx, &ep, KvClient::new(ch).range(ctx.req(get))).await?;
    display.get(o, &resp)?;
    o.live(b"");
    tokio::select! {
        _ = interrupted() => {}
        _ = session.done() => return Err(Fail(EXIT_ERROR, "elect: session expired".into())),
    }
    elections
        .resign(ctx.req(ResignRequest {
            leader: Some(leader),
        }))
        .await
        .map_err(|st| rpc_failure(&ep, &st))?;
    Ok(())
}

/// `--listen`: every leader as a `get` of its key would print it, until a
/// signal (a clean end) or the observation is lost.
async fn observe(
    ctx: &Ctx,
    ch: &tonic::transport::Channel,
    name: Vec<u8>,
    display: &dyn Printer,
    o: &mut Output,
) -> CmdResult {
    let lost = || Fail(EXIT_ERROR, "elect: observer lost".into());
    let observing = async {
        let mut leaders = ElectionClient::new(ch.clone())
            .observe(ctx.req(LeaderRequest { name }))
            .await
            .map_err(|_| lost())?
            .into_inner();
        while let Ok(Some(l)) = leaders.message().await {
            let resp = RangeResponse {
                header: l.header,
                kvs: l.kv.into_iter().collect(),
                ..Default::default()
            };
            display.get(o, &resp)?;
            o.live(b"");
        }
        Err(lost())
    };
    tokio::select! {
        r = observing => r,
        _ = interrupted() => Ok(()),
    }
}
