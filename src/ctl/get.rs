//! `etcdctl get` (etcdctl's `get_command.go`).

use crate::pb::etcdserverpb::{kv_client::KvClient, range_request, RangeRequest};

use super::global::{bad_args, call, connect, Ctx, EXIT_BAD_FEATURE, EXIT_ERROR};
use super::print::new_printer;
use super::util::{parse_int, prefix_end};
use super::{CmdResult, Fail, Output};

pub(super) async fn get(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let req = get_op(ctx, ctx.args())?;
    let (ch, ep) = connect(ctx).await?;
    let resp = call(ctx, &ep, KvClient::new(ch).range(ctx.req(req))).await?;
    display.get(o, &resp)
}

/// etcdctl's `getGetOp`: the range a `get` command line asks for (also a
/// `get` line of `txn`).
pub(super) fn get_op(ctx: &Ctx, args: &[String]) -> Result<RangeRequest, Fail> {
    if args.is_empty() {
        return Err(bad_args(
            "get command needs one argument as key and an optional argument as range_end",
        ));
    }
    let (prefix, from_key) = range_flags(ctx)?;
    let mut r = RangeRequest::default();
    match ctx.get("consistency") {
        "l" => {}
        "s" => r.serializable = true,
        c => {
            return Err(Fail(
                EXIT_BAD_FEATURE,
                format!("unknown consistency flag {c:?}"),
            ))
        }
    }
    r.key = args[0].clone().into_bytes();
    if args.len() > 1 {
        if prefix || from_key {
            return Err(bad_args("too many arguments, only accept one argument when `--prefix` or `--from-key` is set."));
        }
        r.range_end = args[1].clone().into_bytes();
    }
    r.limit = parse_int(ctx.get("limit")).map_err(|e| Fail(EXIT_ERROR, e))?;
    let rev = parse_int(ctx.get("rev")).map_err(|e| Fail(EXIT_ERROR, e))?;
    if rev > 0 {
        r.revision = rev;
    }
    let (order, target) = sort_op(ctx)?;
    r.sort_order = order as i32;
    r.sort_target = target as i32;
    apply_range_flags(&mut r.key, &mut r.range_end, prefix, from_key);
    r.keys_only = ctx.bool("keys-only");
    Ok(r)
}

/// `--prefix` and `--from-key` (of `get` and `del`), which exclude each other.
pub(super) fn range_flags(ctx: &Ctx) -> Result<(bool, bool), Fail> {
    let (prefix, from_key) = (ctx.bool("prefix"), ctx.bool("from-key"));
    if prefix && from_key {
        return Err(bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    Ok((prefix, from_key))
}

/// The range `--prefix` or `--from-key` makes of `key`: `\0` stands for
/// the empty key (the whole keyspace) and for "to the end".
pub(super) fn apply_range_flags(
    key: &mut Vec<u8>,
    range_end: &mut Vec<u8>,
    prefix: bool,
    from_key: bool,
) {
    if prefix {
        if key.is_empty() {
            *key = vec![0];
            *range_end = vec![0];
        } else {
            *range_end = prefix_end(key);
        }
    }
    if from_key {
        if key.is_empty() {
            *key = vec![0];
        }
        *range_end = vec![0];
    }
}

/// `--order` and `--sort-by`, as clientv3's `WithSort` sends them.
fn sort_op(ctx: &Ctx) -> Result<(range_request::SortOrder, range_request::SortTarget), Fail> {
    use range_request::{SortOrder, SortTarget};
    let mut order = match ctx.get("order") {
        "ASCEND" => SortOrder::Ascend,
        "DESCEND" => SortOrder::Descend,
        "" => SortOrder::None,
        o => return Err(Fail(EXIT_BAD_FEATURE, format!("bad sort order {o}"))),
    };
    let target = match ctx.get("sort-by") {
        "CREATE" => SortTarget::Create,
        "KEY" | "" => SortTarget::Key,
        "MODIFY" => SortTarget::Mod,
        "VALUE" => SortTarget::Value,
        "VERSION" => SortTarget::Version,
        t => return Err(Fail(EXIT_BAD_FEATURE, format!("bad sort target {t}"))),
    };
    // Ascending by key is the server's natural order: clientv3 asks for none.
    if target == SortTarget::Key && order == SortOrder::Ascend {
        order = SortOrder::None;
    }
    Ok((order, target))
}
