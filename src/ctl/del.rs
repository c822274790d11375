//! `etcdctl del` (etcdctl's `del_command.go`).

use crate::pb::etcdserverpb::{kv_client::KvClient, DeleteRangeRequest};

use super::get::{apply_range_flags, range_flags};
use super::global::{bad_args, call, connect, Ctx};
use super::print::new_printer;
use super::{CmdResult, Fail, Output};

pub(super) async fn del(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let req = del_op(ctx, ctx.args())?;
    let (ch, ep) = connect(ctx).await?;
    let resp = call(ctx, &ep, KvClient::new(ch).delete_range(ctx.req(req))).await?;
    display.del(o, &resp)
}

/// etcdctl's `getDelOp`: the range a `del` command line deletes (also a
/// `del` line of `txn`).
pub(super) fn del_op(ctx: &Ctx, args: &[String]) -> Result<DeleteRangeRequest, Fail> {
    if args.is_empty() || args.len() > 2 {
        return Err(bad_args(
            "del command needs one argument as key and an optional argument as range_end",
        ));
    }
    let (prefix, from_key) = range_flags(ctx)?;
    let mut r = DeleteRangeRequest {
        key: args[0].clone().into_bytes(),
        ..Default::default()
    };
    if args.len() > 1 {
        if prefix || from_key {
            return Err(bad_args("too many arguments, only accept one argument when `--prefix` or `--from-key` is set"));
        }
        r.range_end = args[1].clone().into_bytes();
    }
    apply_range_flags(&mut r.key, &mut r.range_end, prefix, from_key);
    r.prev_kv = ctx.bool("prev-kv");
    Ok(r)
}
