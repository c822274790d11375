//! `etcdctl put` (etcdctl's `put_command.go`).

use std::io::BufRead;

use crate::pb::etcdserverpb::{kv_client::KvClient, PutRequest};

use super::global::{bad_args, call, check_send_size, connect, Ctx};
use super::print::new_printer;
use super::{CmdResult, Fail, Output};

pub(super) async fn put(ctx: &Ctx, o: &mut Output, stdin: &mut dyn BufRead) -> CmdResult {
    let display = new_printer(ctx)?;
    let req = put_op(ctx, ctx.args(), Some(stdin))?;
    let (ch, ep) = connect(ctx).await?;
    check_send_size(&ep, &req)?;
    let resp = call(ctx, &ep, KvClient::new(ch).put(ctx.req(req))).await?;
    display.put(o, &resp)
}

/// etcdctl's `getPutOp`: the put a `put` command line asks for (also a
/// `put` line of `txn`, which has no stdin to take a value from).
pub(super) fn put_op(
    ctx: &Ctx,
    args: &[String],
    stdin: Option<&mut dyn BufRead>,
) -> Result<PutRequest, Fail> {
    const NEEDS: &str = "put command needs 1 argument and input from stdin or 2 arguments";
    if args.is_empty() {
        return Err(bad_args(NEEDS));
    }
    let ignore_value = ctx.bool("ignore-value");
    if ignore_value && args.len() > 1 {
        return Err(bad_args(
            "put command needs only 1 argument when 'ignore-value' is set",
        ));
    }
    let mut value = Vec::new();
    if !ignore_value {
        if let Some(v) = args.get(1) {
            value = v.clone().into_bytes();
        } else {
            if let Some(stdin) = stdin {
                let _ = stdin.read_to_end(&mut value);
            }
            if value.is_empty() {
                return Err(bad_args(NEEDS));
            }
        }
    }
    let lease_s = ctx.get("lease");
    let lease = i64::from_str_radix(lease_s, 16).map_err(|_| {
        bad_args(format!(
            "bad lease ID (strconv.ParseInt: parsing {lease_s:?}: invalid syntax), expecting ID in Hex"
        ))
    })?;
    Ok(PutRequest {
        key: args[0].clone().into_bytes(),
        value,
        lease,
        prev_kv: ctx.bool("prev-kv"),
        ignore_value,
        ignore_lease: ctx.bool("ignore-lease"),
    })
}
