//! `etcdctl lock` (etcdctl's `lock_command.go`): acquires a named lock for
//! a session, prints its key, and holds it until SIGINT or SIGTERM (then
//! unlocks) or the session's lease is lost; with a command, runs it while
//! holding the lock (`ETCD_LOCK_KEY`, `ETCD_LOCK_REV` in its environment).

use crate::pb::etcdserverpb::{kv_client::KvClient, RangeRequest};
use crate::pb::v3lockpb::{lock_client::LockClient, LockRequest, UnlockRequest};

use super::global::{bad_args, call, connect, rpc_failure, Ctx, EXIT_ERROR};
use super::print::new_printer;
use super::session::Session;
use super::util::parse_int;
use super::{CmdResult, Fail, Output};
use crate::rt::signal::interrupted;

pub(super) async fn lock(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let args = ctx.args();
    if args.is_empty() {
        return Err(bad_args(
            "lock takes a lock name argument and an optional command to execute",
        ));
    }
    let ttl = parse_int(ctx.get("ttl")).map_err(bad_args)?;
    let display = new_printer(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let mut session = Session::new(ctx, &ch, &ep, ttl).await?;
    let req = LockRequest {
        name: args[0].clone().into_bytes(),
        lease: session.lease,
    };
    let mut locks = LockClient::new(ch.clone());
    // Waiting for the lock ends early on a signal; dropping the call makes
    // the server take our key out of the queue.
    let locked = tokio::select! {
        r = locks.lock(ctx.req(req)) => r.map_err(|st| rpc_failure(&ep, &st))?.into_inner(),
        _ = interrupted() => return Err(Fail(EXIT_ERROR, "context canceled".into())),
    };
    let unlock = |mut locks: LockClient<tonic::transport::Channel>, key: Vec<u8>| {
        let ep = ep.clone();
        async move {
            locks
                .unlock(ctx.req(UnlockRequest { key }))
                .await
                .map(|_| ())
                .map_err(|st| rpc_failure(&ep, &st))
        }
    };
    let exec = &args[1..];
    if !exec.is_empty() {
        let rev = locked.header.as_ref().map_or(0, |h| h.revision);
        let key = String::from_utf8_lossy(&locked.key).into_owned();
        let status = std::process::Command::new(&exec[0])
            .args(&exec[1..])
            .env_clear()
            .envs(&ctx.env)
            .env("ETCD_LOCK_KEY", key)
            .env("ETCD_LOCK_REV", rev.to_string())
            .stdin(std::process::Stdio::null())
            .status();
        let unlocked = unlock(locks, locked.key).await;
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                let why = match s.code() {
                    Some(c) => format!("exit status {c}"),
                    None => "signal: killed".into(),
                };
                return Err(Fail(EXIT_ERROR, why));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let why = format!("exec: {:?}: executable file not found in $PATH", exec[0]);
                return Err(Fail(EXIT_ERROR, why));
            }
            Err(e) => return Err(Fail(EXIT_ERROR, e.to_string())),
        }
        return unlocked;
    }
    let get = RangeRequest {
        key: locked.key.clone(),
        ..Default::default()
    };
    let held = call(ctx, &ep, KvClient::new(ch).range(ctx.req(get))).await?;
    if held.kvs.is_empty() {
        return Err(Fail(EXIT_ERROR, "lock lost on init".into()));
    }
    display.get(o, &held)?;
    o.live(b"");
    tokio::select! {
        _ = interrupted() => unlock(locks, locked.key).await,
        _ = session.done() => Err(Fail(EXIT_ERROR, "session expired".into())),
    }
}
