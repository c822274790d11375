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

use super::global::{bad_args, connect, Ctx, EXIT_BAD_CONNECTION, EXIT_INVALID_INPUT};
use super::print::new_printer;
use super::util::{argify, go_quote, parse_int, prefix_end};
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
    if watch.is_empty() {
        return Err(bad_args("bad number of arguments"));
    }
    Ok((watch, exec))
}

/// etcdctl's `getWatchChan`: the create request for `args` (key, and a
/// range end when there are exactly two) and the watch flags.
fn create_request(
    args: &[String],
    prefix: bool,
    rev: i64,
    prev_kv: bool,
) -> Result<WatchCreateRequest, String> {
    let Some(key) = args.first() else {
        return Err("bad number of arguments".into());
    };
    // More than two: etcdctl watches the first key alone.
    let end = (args.len() == 2).then(|| args[1].clone().into_bytes());
    if end.is_some() && prefix {
        return Err("`range_end` and `--prefix` are mutually exclusive".into());
    }
    let key = key.clone().into_bytes();
    let range_end = if prefix {
        // clientv3's WithPrefix: the empty key watches everything.
        if key.is_empty() {
            vec![0]
        } else {
            prefix_end(&key)
        }
    } else {
        end.unwrap_or_default()
    };
    Ok(WatchCreateRequest {
        key,
        range_end,
        start_revision: rev,
        prev_kv,
        ..Default::default()
    })
}

pub(super) async fn watch(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if ctx.bool("interactive") {
        return watch_interactive(ctx, o).await;
    }
    let (args, exec) = watch_args(ctx)?;
    let rev = parse_int(ctx.get("rev")).map_err(bad_args)?;
    let create =
        create_request(&args, ctx.bool("prefix"), rev, ctx.bool("prev-kv")).map_err(bad_args)?;
    let display = new_printer(ctx)?;
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
        .watch(ctx.req(requests))
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

/// A command line of `watch -i`, as etcdctl's `watchInteractiveFunc` takes
/// it.
enum Line {
    /// Create this watch; run `exec` per event.
    Watch(WatchCreateRequest, Vec<String>),
    Progress,
    /// Not a command: this goes to stderr, and the next line is read.
    Invalid(String),
}

/// Parses one line (without its newline) of `watch -i`: `watch [flags]
/// key [range_end] [-- command…]` with the watch flags of that line alone,
/// or `progress`. Errors etcdctl exits on are `Err`.
fn parse_line(l: &str, env_key: &str, env_range: &str) -> Result<Line, Fail> {
    let args = argify(l);
    let Some(first) = args.first() else {
        return Ok(Line::Invalid(format!(
            "Invalid command: {l} (watch and progress supported)\n"
        )));
    };
    match first.as_str() {
        "watch" => {}
        "progress" => return Ok(Line::Progress),
        _ => {
            return Ok(Line::Invalid(format!(
                "Invalid command {l} (only support watch)\n"
            )))
        }
    }
    if args.len() < 2 && env_key.is_empty() {
        return Ok(Line::Invalid(format!(
            "Invalid command {l} (command type or key is not provided)\n"
        )));
    }
    let rest = &args[1..];
    if rest.last().is_some_and(|a| a == "--") {
        return Err(bad_args(
            "bad number of arguments (found separator --, but no commands)",
        ));
    }
    // The line's own flag set: the watch flags, no global ones.
    let p = super::flags::parse_only(rest, super::commands::WATCH_FLAGS).map_err(|e| match e {
        super::flags::ParseError::Flag(msg) => bad_args(msg),
        super::flags::ParseError::Help => bad_args("pflag: help requested"),
    })?;
    let (positional, exec) = match p.dash {
        Some(d) => (p.args[..d].to_vec(), p.args[d..].to_vec()),
        None => (p.args.clone(), Vec::new()),
    };
    if p.dash.is_none() && env_key.is_empty() && positional.is_empty() {
        return Err(bad_args("bad number of arguments"));
    }
    if p.dash.is_none() && !env_key.is_empty() && !positional.is_empty() {
        return Err(bad_args(
            "bad number of arguments (found conflicting environment key)",
        ));
    }
    let mut watch = Vec::new();
    if !env_key.is_empty() {
        watch.push(env_key.to_string());
        if !env_range.is_empty() {
            watch.push(env_range.to_string());
        }
    }
    watch.extend(positional);
    let flags = super::commands::WATCH_FLAGS;
    let rev = parse_int(p.get("rev", flags)).map_err(bad_args)?;
    match create_request(
        &watch,
        p.bool("prefix", flags),
        rev,
        p.bool("prev-kv", flags),
    ) {
        Ok(create) => Ok(Line::Watch(create, exec)),
        Err(why) => Ok(Line::Invalid(format!("Invalid command {l} ({why})\n"))),
    }
}

/// `watch -i`: reads commands from stdin, one per line, until it ends (an
/// error, as etcdctl's); every watch goes over one stream, as clientv3's
/// watches of one context do, and prints as the others.
async fn watch_interactive(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let env = |k: &str| ctx.env.get(k).cloned().unwrap_or_default();
    let (env_key, env_range) = (env("ETCDCTL_WATCH_KEY"), env("ETCDCTL_WATCH_RANGE_END"));
    if env_key.is_empty() && !env_range.is_empty() {
        return Err(bad_args(format!(
            "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END={env_range:?}"
        )));
    }
    let display = new_printer(ctx)?;
    let (ch, _ep) = connect(ctx).await?;
    let mut lines = crate::rt::stdin::lines();
    let (tx, rx) = mpsc::channel::<WatchRequest>(16);
    let mut rx = Some(rx);
    let mut resps: Option<tonic::Streaming<WatchResponse>> = None;
    let mut client = WatchClient::new(ch);
    let lost = |st: tonic::Status| Fail(EXIT_BAD_CONNECTION, st.message().to_string());
    // Exec commands of creates not yet answered, in order; then by id.
    let mut pending: std::collections::VecDeque<Vec<String>> = Default::default();
    let mut execs: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    loop {
        let next = async {
            match resps.as_mut() {
                Some(s) => s.message().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            r = next => {
                let Some(r) = r.map_err(lost)? else {
                    return Err(Fail(EXIT_INTERRUPTED, "watch is canceled by the server".into()));
                };
                if r.created {
                    let exec = pending.pop_front().unwrap_or_default();
                    if !r.canceled {
                        execs.insert(r.watch_id, exec);
                        continue;
                    }
                }
                if r.canceled {
                    o.live_err(format!("watch was canceled ({})\n", cancel_error(&r)));
                    display.watch(o, &r)?;
                    execs.remove(&r.watch_id);
                    continue;
                }
                // A progress answer (id -1) goes to every watch, as
                // clientv3 broadcasts it; each prints it.
                let to: Vec<i64> = if r.watch_id == -1 {
                    execs.keys().copied().collect()
                } else {
                    vec![r.watch_id]
                };
                for id in to {
                    if r.events.is_empty() {
                        let rev = r.header.as_ref().map_or(0, |h| h.revision);
                        o.live(format!("progress notify: {rev}\n").as_bytes());
                    }
                    display.watch(o, &r)?;
                    if let Some(exec) = execs.get(&id).filter(|e| !e.is_empty()) {
                        run_exec(exec, &r, &ctx.env)?;
                    }
                }
            }
            l = lines.recv() => {
                let l = match l {
                    Some(Ok(l)) => l,
                    Some(Err(e)) => {
                        return Err(Fail(EXIT_INVALID_INPUT, format!("Error reading watch request line: {e}")));
                    }
                    None => return Err(Fail(EXIT_INVALID_INPUT, "Error reading watch request line: EOF".into())),
                };
                let request = match parse_line(l.trim_end_matches('\n'), &env_key, &env_range)? {
                    Line::Invalid(msg) => {
                        o.live_err(msg);
                        continue;
                    }
                    Line::Watch(create, exec) => {
                        pending.push_back(exec);
                        RequestUnion::CreateRequest(create)
                    }
                    Line::Progress => RequestUnion::ProgressRequest(Default::default()),
                };
                let _ = tx.send(WatchRequest { request_union: Some(request) }).await;
                // clientv3 opens the stream with its first request.
                if let Some(rx) = rx.take() {
                    let opened = client.watch(ctx.req(ReceiverStream(rx))).await.map_err(lost)?;
                    resps = Some(opened.into_inner());
                }
            }
        }
    }
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
