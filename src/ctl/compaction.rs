//! `etcdctl compaction` (etcdctl's `compaction_command.go`).

use crate::pb::etcdserverpb::{kv_client::KvClient, CompactionRequest};

use super::global::{bad_args, call, connect, Ctx, EXIT_ERROR};
use super::util::parse_int;
use super::{CmdResult, Fail, Output};

/// Compacts the history up to a revision; etcdctl prints one line whatever
/// `--write-out` says.
pub(super) async fn compaction(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if ctx.args().len() != 1 {
        return Err(bad_args("compaction command needs 1 argument"));
    }
    let rev = parse_int(&ctx.args()[0]).map_err(|e| Fail(EXIT_ERROR, e))?;
    let (ch, ep) = connect(ctx).await?;
    let req = CompactionRequest {
        revision: rev,
        physical: ctx.bool("physical"),
    };
    call(ctx, &ep, KvClient::new(ch).compact(ctx.req(req))).await?;
    o.out(format!("compacted revision {rev}\n"));
    Ok(())
}
