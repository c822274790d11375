//! `etcdctl defrag` (etcdctl's `defrag_command.go`): each endpoint (or,
//! with `--cluster`, each member's client URLs) defragmented in turn;
//! with `--data-dir`, a data directory no server has open.

use std::path::Path;

use crate::pb::etcdserverpb::{maintenance_client::MaintenanceClient, DefragmentRequest};
use crate::storage::backend::{Backend, SledBackend};

use super::endpoint::endpoints_from_cluster;
use super::global::{call_as, connect, rpc_failure_one, Ctx, EXIT_ERROR, EXIT_GO_PANIC};
use super::util::go_quote;
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

/// How often a backend a server holds is tried again.
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether a running server holds the backend at `db` (sled's exclusive
/// lock on its `db` file). Asked before opening: opening repairs what an
/// interrupted defragmentation left, which must not happen under a server.
fn held_by_a_server(db: &Path) -> bool {
    SledBackend::held_elsewhere(db)
}

/// Opens the backend at `db` for an offline command, as etcd's tools do:
/// while a server holds it, `on_wait` is called once and the open waits
/// (etcd waits for bbolt's lock the same way).
pub(super) fn open_offline(db: &Path, on_wait: &mut dyn FnMut()) -> std::io::Result<SledBackend> {
    let mut told = false;
    while held_by_a_server(db) {
        if !told {
            on_wait();
            told = true;
        }
        #[allow(clippy::disallowed_methods)] // an offline command waiting for a file lock
        std::thread::sleep(LOCK_RETRY);
    }
    SledBackend::open(db)
}

/// `defrag --data-dir DIR`: defragments the backend of a data directory
/// no server has open (`DIR/member/snap/db`); `on_wait` is called if a
/// server holds it (the command then waits for it).
pub fn offline(dir: &str, on_wait: &mut dyn FnMut(&Path)) -> Result<(), OfflineError> {
    let db = Path::new(dir).join("member").join("snap").join("db");
    let shown = db.display();
    if !SledBackend::exists(&db) {
        return Err(OfflineError::Open(format!(
            "cannot open database at {shown} (open {shown}: no such file or directory)"
        )));
    }
    let backend = open_offline(&db, &mut || on_wait(&db))
        .map_err(|e| OfflineError::Open(format!("cannot open database at {shown} ({e})")))?;
    backend
        .defragment()
        .and_then(|()| backend.flush())
        .map_err(|e| OfflineError::Defrag(e.to_string()))
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
    let mut waiting = |db: &Path| {
        o.live_err(format!(
            "waiting for etcd to close and release its lock on {}. To defrag a running etcd instance, omit --data-dir.\n",
            go_quote(db.display().to_string().as_bytes())
        ))
    };
    match offline(dir, &mut waiting) {
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
