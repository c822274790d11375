//! `etcdctl move-leader` (etcdctl's `move_leader_command.go`).

use crate::pb::etcdserverpb::{
    maintenance_client::MaintenanceClient, MoveLeaderRequest, StatusRequest,
};

use super::global::{bad_args, call, connect, Ctx};
use super::{CmdResult, Output};

/// Finds the leader among `--endpoints` and asks it to hand over to the
/// target (only the leader can transfer its leadership).
pub(super) async fn move_leader(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if ctx.args().len() != 1 {
        return Err(bad_args("move-leader command needs 1 argument"));
    }
    let raw = &ctx.args()[0];
    // etcdctl exits with `strconv.ParseUint`'s own error.
    let target = u64::from_str_radix(raw, 16).map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow => "value out of range",
            _ => "invalid syntax",
        };
        bad_args(format!(
            "strconv.ParseUint: parsing {}: {why}",
            super::util::go_quote(raw.as_bytes())
        ))
    })?;
    let eps = ctx.endpoints();
    for ep in &eps {
        let one = ctx.with_endpoint(ep);
        let (ch, ep) = connect(&one).await?;
        let st = call(
            &one,
            &ep,
            MaintenanceClient::new(ch.clone()).status(one.req(StatusRequest {})),
        )
        .await?;
        let me = st.header.as_ref().map_or(0, |h| h.member_id);
        if me != st.leader {
            continue;
        }
        let req = MoveLeaderRequest { target_id: target };
        call(
            &one,
            &ep,
            MaintenanceClient::new(ch).move_leader(one.req(req)),
        )
        .await?;
        o.out(format!(
            "Leadership transferred from {me:x} to {target:x}\n"
        ));
        return Ok(());
    }
    Err(bad_args(format!(
        "no leader endpoint given at [{}]",
        eps.join(" ")
    )))
}
