//! `etcdctl watch` (etcdctl's `watch_command.go`): one watch, its responses
//! printed as they come; with `-- command args…` the command runs once per
//! event with `ETCD_WATCH_*` in its environment. It ends only when the
//! server cancels the watch (exit 5, as etcdctl) or the user stops it.

use std::collections::BTreeMap;

use tokio::sync::mpsc;

use crate::pb::etcdserverpb::{
    watch_client::WatchClient, watch_request::RequestUnion, WatchCreateRequest, WatchRequest,
    WatchResponse,
};
use crate::pb::mvccpb::event::EventType;
use crate::rt::stream::ReceiverStream;

use super::global::{bad_args, connect, Ctx, EXIT_BAD_CONNECTION};
use super::print::new_printer;
use super::util::{go_quote, parse_int, prefix_end};
use super::{CmdResult, Fail, Output};

/// etcdctl's `ExitInterrupted`.
const EXIT_INTERRUPTED: i32 = 5;

/// The watch's key and range end, and the command to run per event, from
/// the arguments and `ETCDCTL_WATCH_KEY`/`ETCDCTL_WATCH_RANGE_END`
/// (etcdctl's `parseWatchArgs`, non-interactive).
fn watch_args(ctx: &Ctx) -> Result<(Vec<String>, Vec<String>), Fail> {
    let env_key = ctx
        .env
        .get("ETCDCTL_WATCH_KEY")
        .cloned()
        .unwrap_or_default();
    let env_range = ctx
        .env
        .get("ETCDCTL_WATCH_RANGE_END")
        .cloned()
        .unwrap_or_default();
    if env_key.is_empty() && !env_range.is_empty() {
        return Err(bad_args(format!(
            "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END={env_range:?}"
        )));
    }
    let args = ctx.args();
    let (mut watch, exec) = match ctx.p.dash {
        Some(d) => (args[..d].to_vec(), args[d..].to_vec()),
        None => (args.to_vec(), Vec::new()),
    };
    if ctx.p.dash.is_some() && exec.is_empty() {
        return Err(bad_args(
            "bad number of arguments (found separator --, but no commands)",
        ));
    }
    if !env_key.is_empty() {
        if !watch.is_empty() {
            return Err(bad_args(
                "bad number of arguments (found conflicting environment key)",
            ));
        }
        watch.push(env_key);
        if !env_range.is_empty() {
            watch.push(env_range);
        }
    }
    // More than two: etcdctl watches the first key alone.
    if watch.is_empty() {
        return Err(bad_args("bad number of arguments"));
    }
    Ok((watch, exec))
}

pub(super) async fn watch(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if ctx.bool("interactive") {
        return Err(Fail(
            super::global::EXIT_BAD_FEATURE,
            "watch -i is not built in oxcd's etcdctl yet".into(),
        ));
    }
    let (args, exec) = watch_args(ctx)?;
    let prefix = ctx.bool("prefix");
    let args: Vec<String> = if args.len() > 2 {
        args[..1].to_vec()
    } else {
        args
    };
    if args.len() == 2 && prefix {
        return Err(bad_args(
            "`range_end` and `--prefix` are mutually exclusive",
        ));
    }
    let rev = parse_int(ctx.get("rev")).map_err(bad_args)?;
    let display = new_printer(ctx)?;
    let key = args[0].clone().into_bytes();
    let range_end = if prefix {
        // clientv3's WithPrefix: the empty key watches everything.
        if key.is_empty() {
            vec![0]
        } else {
            prefix_end(&key)
        }
    } else {
        args.get(1)
            .map(|e| e.clone().into_bytes())
            .unwrap_or_default()
    };
    let create = WatchCreateRequest {
        key,
        range_end,
        start_revision: rev,
        prev_kv: ctx.bool("prev-kv"),
        ..Default::default()
    };
    let (ch, _ep) = connect(ctx).await?;
    let (tx, rx) = mpsc::channel::<WatchRequest>(1);
    let requests = ReceiverStream(rx);
    let lost = |st: tonic::Status| Fail(EXIT_BAD_CONNECTION, st.message().to_string());
    let _ = tx
        .send(WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create)),
        })
        .await;
    let mut resps = WatchClient::new(ch)
        .watch(requests)
        .await
        .map_err(lost)?
        .into_inner();
    while let Some(r) = resps.message().await.map_err(lost)? {
        if r.created && !r.canceled {
            // clientv3 keeps the created answer to itself.
            continue;
        }
        if r.canceled {
            o.err(format!("watch was canceled ({})\n", cancel_error(&r)));
        }
        let progress = r.events.is_empty()
            && !r.canceled
            && !r.created
            && r.compact_revision == 0
            && r.header.as_ref().is_some_and(|h| h.revision != 0);
        if progress {
            let rev = r.header.as_ref().map_or(0, |h| h.revision);
            o.live(format!("progress notify: {rev}\n").as_bytes());
        }
        display.watch(o, &r)?;
        if !exec.is_empty() {
            run_exec(&exec, &r, &ctx.env)?;
        }
        if r.canceled {
            break;
        }
    }
    drop(tx);
    Err(Fail(
        EXIT_INTERRUPTED,
        "watch is canceled by the server".into(),
    ))
}

/// clientv3's `WatchResponse.Err` of a cancelled watch.
fn cancel_error(r: &WatchResponse) -> String {
    if r.compact_revision != 0 {
        "etcdserver: mvcc: required revision has been compacted".into()
    } else if !r.cancel_reason.is_empty() {
        r.cancel_reason.clone()
    } else {
        "etcdserver: mvcc: required revision is a future revision".into()
    }
}

/// Runs the exec command once per event, as etcdctl does: its output goes
/// where ours does, and a failure ends the watch with exit 1.
fn run_exec(exec: &[String], r: &WatchResponse, env: &BTreeMap<String, String>) -> CmdResult {
    let rev = r.header.as_ref().map_or(0, |h| h.revision);
    for e in &r.events {
        let kv = e.kv.clone().unwrap_or_default();
        let kind = if e.r#type == EventType::Put as i32 {
            "PUT"
        } else {
            "DELETE"
        };
        let status = std::process::Command::new(&exec[0])
            .args(&exec[1..])
            .env_clear()
            .envs(env)
            .env("ETCD_WATCH_REVISION", rev.to_string())
            .env("ETCD_WATCH_EVENT_TYPE", format!("{kind:?}"))
            .env("ETCD_WATCH_KEY", go_quote(&kv.key))
            .env("ETCD_WATCH_VALUE", go_quote(&kv.value))
            .status();
        let failed = match status {
            Ok(s) if s.success() => None,
            Ok(s) => Some(format!("exit status {}", s.code().unwrap_or(-1))),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = failed {
            let quoted: Vec<String> = exec.iter().map(|a| format!("{a:?}")).collect();
            return Err(Fail(
                super::global::EXIT_ERROR,
                format!("command [{}] error ({why})", quoted.join(" ")),
            ));
        }
    }
    Ok(())
}
