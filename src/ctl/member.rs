//! `etcdctl member add|remove|update|promote|list` (etcdctl's
//! `member_command.go`).

use tonic::transport::Channel;

use crate::pb::etcdserverpb::{
    cluster_client::ClusterClient, MemberAddRequest, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberRemoveRequest, MemberUpdateRequest,
};

use super::global::{bad_args, call, connect, Ctx, EXIT_ERROR};
use super::print::new_printer;
use super::util::go_quote;
use super::{CmdResult, Fail, Output};

/// `member add <name> --peer-urls=… [--learner]`.
pub(super) async fn member_add(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let name = member_name_arg(ctx)?;
    let peer_urls = peer_urls_arg(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let req = MemberAddRequest {
        peer_ur_ls: peer_urls.clone(),
        is_learner: ctx.bool("learner"),
    };
    let resp = call(
        ctx,
        &ep,
        ClusterClient::new(ch.clone()).member_add(ctx.req(req)),
    )
    .await?;
    display.member_add(o, &resp)?;
    // Like etcdctl, the simple format goes on with the environment the new
    // member starts with, from a fresh member list.
    if ctx.format() == "simple" {
        let new_id = resp.member.as_ref().map_or(0, |m| m.id);
        let list = fetch_member_list(ctx, ch, &ep).await?;
        let mut conf = Vec::new();
        for m in &list.members {
            let n = if m.id == new_id { &name } else { &m.name };
            for u in &m.peer_ur_ls {
                conf.push(format!("{n}={u}"));
            }
        }
        o.out(format!(
            "\nETCD_NAME={}\nETCD_INITIAL_CLUSTER={}\nETCD_INITIAL_ADVERTISE_PEER_URLS={}\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n",
            go_quote(name.as_bytes()),
            go_quote(conf.join(",").as_bytes()),
            go_quote(peer_urls.join(",").as_bytes()),
        ));
    }
    Ok(())
}

/// `member remove <id>`.
pub(super) async fn member_remove(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let id = member_id_arg(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let req = MemberRemoveRequest { id };
    let resp = call(ctx, &ep, ClusterClient::new(ch).member_remove(ctx.req(req))).await?;
    display.member_remove(o, id, &resp)
}

/// `member update <id> --peer-urls=…`.
pub(super) async fn member_update(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let id = member_id_arg(ctx)?;
    let peer_ur_ls = peer_urls_arg(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let req = MemberUpdateRequest { id, peer_ur_ls };
    let resp = call(ctx, &ep, ClusterClient::new(ch).member_update(ctx.req(req))).await?;
    display.member_update(o, id, &resp)
}

/// `member promote <id>`: a learner becomes a voting member.
pub(super) async fn member_promote(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let id = member_id_arg(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let req = MemberPromoteRequest { id };
    let resp = call(
        ctx,
        &ep,
        ClusterClient::new(ch).member_promote(ctx.req(req)),
    )
    .await?;
    display.member_promote(o, id, &resp)
}

/// `member list`.
pub(super) async fn member_list(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let resp = fetch_member_list(ctx, ch, &ep).await?;
    display.member_list(o, &resp)
}

/// The cluster's member list, as `member list` asks for it.
pub(super) async fn fetch_member_list(
    ctx: &Ctx,
    ch: Channel,
    ep: &str,
) -> Result<MemberListResponse, Fail> {
    let req = MemberListRequest {
        linearizable: false,
    };
    call(ctx, ep, ClusterClient::new(ch).member_list(ctx.req(req))).await
}

/// `member add`'s one argument, the new member's name; a URL among extra
/// arguments was most likely meant for `--peer-urls`.
fn member_name_arg(ctx: &Ctx) -> Result<String, Fail> {
    let args = ctx.args();
    if args.is_empty() {
        return Err(bad_args("member name not provided"));
    }
    if args.len() > 1 {
        let mut ev = String::from("too many arguments");
        for a in args {
            if a.to_ascii_lowercase().starts_with("http") {
                ev.push_str(&format!(", did you mean --peer-urls={a}"));
            }
        }
        return Err(bad_args(ev));
    }
    Ok(args[0].clone())
}

/// A member ID argument: hex, as etcdctl prints it.
fn member_id_arg(ctx: &Ctx) -> Result<u64, Fail> {
    if ctx.args().len() != 1 {
        return Err(bad_args("member ID is not provided"));
    }
    let raw = &ctx.args()[0];
    u64::from_str_radix(raw, 16).map_err(|_| {
        bad_args(format!(
            "bad member ID arg (strconv.ParseUint: parsing {raw:?}: invalid syntax), expecting ID in Hex"
        ))
    })
}

/// `--peer-urls`, split and checked like Go's `url.Parse` would reject them.
fn peer_urls_arg(ctx: &Ctx) -> Result<Vec<String>, Fail> {
    let raw = ctx.get("peer-urls");
    if raw.is_empty() {
        return Err(bad_args("member peer urls not provided"));
    }
    let urls: Vec<String> = raw.split(',').map(str::to_string).collect();
    for u in &urls {
        if !u.contains("://") {
            let first = u.split('/').next().unwrap_or_default();
            if first.contains(':') {
                return Err(Fail(
                    EXIT_ERROR,
                    format!("parse {u:?}: first path segment in URL cannot contain colon"),
                ));
            }
        }
    }
    Ok(urls)
}
