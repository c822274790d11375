//! `etcdctl endpoint health|status|hashkv` (etcdctl's `ep_command.go`):
//! each endpoint asked on its own, its result or its failure reported.

use crate::pb::etcdserverpb::{
    kv_client::KvClient, maintenance_client::MaintenanceClient, AlarmRequest, HashKvRequest,
    HashKvResponse, RangeRequest, StatusRequest, StatusResponse,
};

use super::global::{
    bad_args, call, call_as, connect, endpoint_url, rpc_failure_one, zap_warn, Ctx, EXIT_ERROR,
};
use super::member::fetch_member_list;
use super::print::new_printer;
use super::printer_json::json_str;
use super::util::{go_duration, parse_int};
use super::{CmdResult, Fail, Output};

/// One endpoint's health: how long the check took and what failed.
pub(super) struct EpHealth {
    pub(super) ep: String,
    pub(super) health: Result<(), String>,
    pub(super) took: String,
}

/// One endpoint's status.
pub(super) struct EpStatus {
    pub(super) ep: String,
    pub(super) resp: StatusResponse,
}

/// One endpoint's KV hash.
pub(super) struct EpHashKv {
    pub(super) ep: String,
    pub(super) resp: HashKvResponse,
}

/// The endpoints an `endpoint` command visits: `--endpoints`, or with
/// `--cluster` every client URL in the member list.
pub(super) async fn endpoints_from_cluster(ctx: &Ctx) -> Result<Vec<String>, Fail> {
    if !ctx.bool("cluster") {
        return Ok(ctx.endpoints());
    }
    let (ch, ep) = connect(ctx).await?;
    let resp = fetch_member_list(ctx, ch, &ep).await?;
    Ok(resp
        .members
        .iter()
        .flat_map(|m| m.client_ur_ls.iter().cloned())
        .collect())
}

/// `endpoint health`: every endpoint serves a read (a refused one counts:
/// it was answered) and has no alarm raised.
pub(super) async fn endpoint_health(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let mut hs = Vec::new();
    for ep in endpoints_from_cluster(ctx).await? {
        hs.push(check_health(ctx, &ep).await);
    }
    display.endpoint_health(o, &hs)?;
    if hs.iter().any(|h| h.health.is_err()) {
        return Err(Fail(EXIT_ERROR, "unhealthy cluster".into()));
    }
    Ok(())
}

async fn check_health(ctx: &Ctx, ep: &str) -> EpHealth {
    let url = endpoint_url(ep);
    let ctx = &ctx.with_endpoint(ep);
    #[allow(clippy::disallowed_methods)] // measures the client's round trip
    let start = std::time::Instant::now();
    let health: Result<(), String> = async {
        let (ch, _) = connect(ctx).await.map_err(|f| f.msg)?;
        let get = RangeRequest {
            key: b"health".to_vec(),
            ..Default::default()
        };
        let t = ctx.timeout("command-timeout");
        match tokio::time::timeout(t, KvClient::new(ch.clone()).range(ctx.req(get))).await {
            Ok(Ok(_)) => {}
            Ok(Err(st)) if st.message() == "etcdserver: permission denied" => {}
            Ok(Err(st)) => return Err(st.message().to_string()),
            Err(_) => return Err("context deadline exceeded".into()),
        }
        let alarms = MaintenanceClient::new(ch)
            .alarm(ctx.req(AlarmRequest::default()))
            .await;
        if let Ok(a) = alarms {
            if !a.get_ref().alarms.is_empty() {
                return Err("Active Alarm(s): NOSPACE".into());
            }
        }
        Ok(())
    }
    .await;
    EpHealth {
        ep: url,
        health,
        took: go_duration(start.elapsed()),
    }
}

/// `endpoint status`: an endpoint that fails is logged and left out, and
/// the command exits 1.
pub(super) async fn endpoint_status(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let targets = endpoints_from_cluster(ctx).await?;
    let mut ss = Vec::new();
    for ep in &targets {
        let url = endpoint_url(ep);
        let one = ctx.with_endpoint(ep);
        let st = async {
            let (ch, ep) = connect(&one).await?;
            call(
                &one,
                &ep,
                MaintenanceClient::new(ch).status(one.req(StatusRequest {})),
            )
            .await
        }
        .await;
        match st {
            Ok(resp) => ss.push(EpStatus { ep: url, resp }),
            Err(Fail { msg, .. }) => o.err(zap_warn(
                "command/ep_command.go:198",
                "failed to get the status of endpoint",
                &[("endpoint", json_str(&url)), ("error", json_str(&msg))],
            )),
        }
    }
    display.endpoint_status(o, &ss)?;
    if ss.len() < targets.len() {
        o.code = EXIT_ERROR;
    }
    Ok(())
}

/// `endpoint hashkv`: every endpoint's KV hash up to `--rev`; the last
/// failure is the command's.
pub(super) async fn endpoint_hash_kv(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let rev = parse_int(ctx.get("rev")).map_err(bad_args)?;
    let targets = endpoints_from_cluster(ctx).await?;
    let mut hs = Vec::new();
    let mut failed = None;
    for ep in &targets {
        let one = ctx.with_endpoint(ep);
        let hashed = async {
            let (ch, ep) = connect(&one).await?;
            let req = HashKvRequest { revision: rev };
            let mut client = MaintenanceClient::new(ch);
            // etcdctl asks each endpoint with a client of its own.
            call_as(&one, &ep, client.hash_kv(one.req(req)), rpc_failure_one).await
        }
        .await;
        match hashed {
            Ok(resp) => hs.push(EpHashKv {
                ep: ep.clone(),
                resp,
            }),
            Err(f) => {
                if let Some(w) = &f.warn {
                    o.err(w);
                }
                o.err(format!(
                    "Failed to get the hash of endpoint {ep} ({})\n",
                    f.msg
                ));
                failed = Some(f);
            }
        }
    }
    display.endpoint_hash_kv(o, &hs)?;
    match failed {
        Some(f) => Err(Fail(f.code, f.msg)),
        None => Ok(()),
    }
}
