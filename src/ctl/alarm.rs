//! `etcdctl alarm list|disarm` (etcdctl's `alarm_command.go`).

use crate::pb::etcdserverpb::{
    alarm_request::AlarmAction, maintenance_client::MaintenanceClient, AlarmMember, AlarmRequest,
    AlarmResponse, AlarmType,
};

use super::global::{bad_args, call, connect, Ctx};
use super::print::new_printer;
use super::{CmdResult, Output};

/// `alarm list`: every alarm raised in the cluster.
pub(super) async fn alarm_list(ctx: &Ctx, o: &mut Output) -> CmdResult {
    alarm(ctx, o, "list", AlarmAction::Get).await
}

/// `alarm disarm`: clears every alarm (clientv3's `AlarmDisarm` with an
/// empty member: all members, all types, one request each), printing
/// those it cleared.
pub(super) async fn alarm_disarm(ctx: &Ctx, o: &mut Output) -> CmdResult {
    alarm(ctx, o, "disarm", AlarmAction::Deactivate).await
}

async fn alarm(ctx: &Ctx, o: &mut Output, verb: &str, action: AlarmAction) -> CmdResult {
    if !ctx.args().is_empty() {
        return Err(bad_args(format!(
            "alarm {verb} command accepts no arguments"
        )));
    }
    // etcdctl makes its printer before the command runs: an unknown
    // format fails first.
    let display = new_printer(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let mut client = MaintenanceClient::new(ch);
    let ask = |action: AlarmAction, m: &AlarmMember| AlarmRequest {
        action: action as i32,
        member_id: m.member_id,
        alarm: m.alarm,
    };
    let all = AlarmMember::default();
    let listed = call(ctx, &ep, client.alarm(ctx.req(ask(AlarmAction::Get, &all)))).await?;
    if action == AlarmAction::Get {
        return display.alarm(o, &listed);
    }
    // clientv3's AlarmDisarm of every member and type: it lists the
    // alarms, then disarms each one, answering with what each disarmed.
    let mut resp = AlarmResponse::default();
    for m in &listed.alarms {
        let req = ctx.req(ask(AlarmAction::Deactivate, m));
        let r = call(ctx, &ep, client.alarm(req)).await?;
        resp.alarms.extend(r.alarms);
    }
    display.alarm(o, &resp)
}

/// An alarm as the simple format prints it: Go's `%+v` of the message,
/// its compact proto text, each set field followed by a space
/// (`memberID:1 alarm:NOSPACE `).
pub(super) fn alarm_text(a: &AlarmMember) -> String {
    let mut s = String::new();
    if a.member_id != 0 {
        s.push_str(&format!("memberID:{} ", a.member_id));
    }
    if a.alarm != 0 {
        s.push_str(&format!("alarm:{} ", alarm_type_name(a.alarm)));
    }
    s
}

/// An alarm type as Go prints the enum: its name (a number it does not
/// know as the number).
pub(super) fn alarm_type_name(t: i32) -> String {
    AlarmType::try_from(t).map_or_else(|_| t.to_string(), |t| t.as_str_name().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_lines_are_compact_proto_text() {
        let a = AlarmMember {
            member_id: 13049071153751544597,
            alarm: AlarmType::Nospace as i32,
        };
        assert_eq!(
            alarm_text(&a),
            "memberID:13049071153751544597 alarm:NOSPACE "
        );
        assert_eq!(alarm_text(&AlarmMember::default()), "");
    }
}
