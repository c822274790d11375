//! `etcdctl defrag` (etcdctl's `defrag_command.go`): each endpoint (or,
//! with `--cluster`, each member's client URLs) defragmented in turn;
//! with `--data-dir`, a data directory no server has open.

use crate::pb::etcdserverpb::{maintenance_client::MaintenanceClient, DefragmentRequest};

use super::endpoint::endpoints_from_cluster;
use super::global::{call_as, connect, rpc_failure_one, Ctx, EXIT_ERROR, EXIT_GO_PANIC};
use super::{CmdResult, Fail, Output};

/// Why an offline defragmentation failed.
#[derive(Debug)]
pub enum OfflineError {
    /// The backend could not be opened: etcd's backend logs this at
    /// critical level and panics.
    Open(String),
    /// Opened, but defragmenting failed.
    Defrag(String),
}

/// `defrag --data-dir DIR`: defragments the backend of a data directory
/// that no server has open (`DIR/member/snap/db`).
///
/// Only the refusal of a missing backend is built here; the backend side
/// (rewriting sled's files) is the integrator's to fill in.
pub fn offline(dir: &str) -> Result<(), OfflineError> {
    let db = std::path::Path::new(dir)
        .join("member")
        .join("snap")
        .join("db");
    let shown = db.display();
    if !db.exists() {
        return Err(OfflineError::Open(format!(
            "cannot open database at {shown} (open {shown}: no such file or directory)"
        )));
    }
    Err(OfflineError::Defrag(
        "offline defragmentation of an oxcd backend is not built yet".into(),
    ))
}

/// `defrag`: every endpoint is tried; one line for each, and exit 1 if
/// any failed.
pub(super) async fn defrag(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let dir = ctx.get("data-dir");
    if !dir.is_empty() {
        return defrag_offline(dir, o);
    }
    let mut failures = 0;
    for ep in endpoints_from_cluster(ctx).await? {
        match defragment(ctx, &ep).await {
            Ok(()) => o.out(format!("Finished defragmenting etcd member[{ep}]\n")),
            Err(f) => {
                if let Some(w) = &f.warn {
                    o.err(w);
                }
                o.err(format!(
                    "Failed to defragment etcd member[{ep}] ({})\n",
                    f.msg
                ));
                failures += 1;
            }
        }
    }
    if failures != 0 {
        o.code = EXIT_ERROR;
    }
    Ok(())
}

/// Defragments one endpoint, as clientv3's `Defragment(ctx, ep)` does:
/// with a connection of its own to that endpoint, under
/// `--command-timeout`.
pub(super) async fn defragment(ctx: &Ctx, ep: &str) -> Result<(), Fail> {
    let one = ctx.with_endpoint(ep);
    let (ch, ep) = connect(&one).await?;
    let mut client = MaintenanceClient::new(ch);
    let req = one.req(DefragmentRequest {});
    call_as(&one, &ep, client.defragment(req), rpc_failure_one).await?;
    Ok(())
}

fn defrag_offline(dir: &str, o: &mut Output) -> CmdResult {
    match offline(dir) {
        Ok(()) => {}
        Err(OfflineError::Open(msg)) => {
            // capnslog's critical line, then the panic it raises.
            o.err(format!(
                "{} C | mvcc/backend: {msg}\npanic: {msg}\n",
                capnslog_time()
            ));
            o.code = EXIT_GO_PANIC;
        }
        Err(OfflineError::Defrag(msg)) => {
            o.err(format!("Failed to defragment etcd data[{dir}] ({msg})\n"));
            o.code = EXIT_ERROR;
        }
    }
    Ok(())
}

/// capnslog's timestamp: `2006-01-02 15:04:05.000000`, UTC.
fn capnslog_time() -> String {
    let ((y, mo, da, h, mi, s), d) = super::global::utc_now();
    format!(
        "{y:04}-{mo:02}-{da:02} {h:02}:{mi:02}:{s:02}.{:06}",
        d.subsec_micros()
    )
}
