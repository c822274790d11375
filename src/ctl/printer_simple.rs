//! The "simple" output format (etcdctl's `printer_simple.go`): values as
//! they are, one per line; tables as comma-separated rows.

use crate::pb::etcdserverpb::{
    response_op, AlarmResponse, DeleteRangeResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, MemberAddResponse,
    MemberListResponse, MemberPromoteResponse, MemberRemoveResponse, MemberUpdateResponse,
    PutResponse, RangeResponse, ResponseHeader, TxnResponse, WatchResponse,
};
use crate::pb::mvccpb::KeyValue;

use super::alarm::alarm_text;
use super::endpoint::{EpHashKv, EpHealth, EpStatus};
use super::print::{
    make_db_status_table, make_endpoint_hash_kv_table, make_endpoint_status_table,
    make_member_list_table, Printer, Table,
};
use super::{CmdResult, Output};

pub(super) struct SimplePrinter {
    /// `--hex`: keys and values as `\x..` escapes.
    pub(super) is_hex: bool,
    /// `get --print-value-only`.
    pub(super) value_only: bool,
}

/// Each byte as `\xNN` (etcdctl's `addHexPrefix` of a hex encoding).
fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("\\x{x:02x}")).collect()
}

/// etcdctl's `printKV`: the key (unless only values are asked for), then
/// the value, each on its own line.
fn print_kv(o: &mut Output, hex: bool, value_only: bool, kv: &KeyValue) {
    let (k, v) = if hex {
        (
            hex_bytes(&kv.key).into_bytes(),
            hex_bytes(&kv.value).into_bytes(),
        )
    } else {
        (kv.key.clone(), kv.value.clone())
    };
    if !value_only {
        o.out(&k);
        o.out("\n");
    }
    o.out(&v);
    o.out("\n");
}

/// A table's rows, comma-separated, one a line.
fn print_rows(o: &mut Output, (_, rows): Table) -> CmdResult {
    for row in rows {
        o.out(format!("{}\n", row.join(", ")));
    }
    Ok(())
}

/// `member remove|update|promote`: which member, what happened, where.
fn print_member_changed(o: &mut Output, id: u64, verb: &str, h: &Option<ResponseHeader>) {
    let cluster = h.as_ref().map_or(0, |h| h.cluster_id);
    o.out(format!("Member {id:16x} {verb} cluster {cluster:16x}\n"));
}

/// `endpoint health`'s lines, which go to stderr.
pub(super) fn print_endpoint_health(o: &mut Output, hs: &[EpHealth]) -> CmdResult {
    for EpHealth { ep, health, took } in hs {
        match health {
            Ok(()) => o.err(format!(
                "{ep} is healthy: successfully committed proposal: took = {took}\n"
            )),
            Err(e) => o.err(format!(
                "{ep} is unhealthy: failed to commit proposal: {e}\n"
            )),
        }
    }
    Ok(())
}

impl Printer for SimplePrinter {
    fn name(&self) -> &'static str {
        "simple"
    }
    fn get(&self, o: &mut Output, r: &RangeResponse) -> CmdResult {
        for kv in &r.kvs {
            print_kv(o, self.is_hex, self.value_only, kv);
        }
        Ok(())
    }
    fn put(&self, o: &mut Output, r: &PutResponse) -> CmdResult {
        o.out("OK\n");
        if let Some(p) = &r.prev_kv {
            print_kv(o, self.is_hex, self.value_only, p);
        }
        Ok(())
    }
    fn del(&self, o: &mut Output, r: &DeleteRangeResponse) -> CmdResult {
        o.out(format!("{}\n", r.deleted));
        for kv in &r.prev_kvs {
            print_kv(o, self.is_hex, self.value_only, kv);
        }
        Ok(())
    }
    fn txn(&self, o: &mut Output, r: &TxnResponse) -> CmdResult {
        o.out(if r.succeeded {
            "SUCCESS\n"
        } else {
            "FAILURE\n"
        });
        for op in &r.responses {
            o.out("\n");
            match &op.response {
                Some(response_op::Response::ResponseRange(x)) => self.get(o, x)?,
                Some(response_op::Response::ResponsePut(x)) => self.put(o, x)?,
                Some(response_op::Response::ResponseDeleteRange(x)) => self.del(o, x)?,
                _ => o.out(format!("unexpected response {op:?}\n")),
            }
        }
        Ok(())
    }
    fn member_add(&self, o: &mut Output, r: &MemberAddResponse) -> CmdResult {
        let cluster = r.header.as_ref().map_or(0, |h| h.cluster_id);
        let new_id = r.member.as_ref().map_or(0, |m| m.id);
        o.out(format!(
            "Member {new_id:16x} added to cluster {cluster:16x}\n"
        ));
        Ok(())
    }
    fn member_remove(&self, o: &mut Output, id: u64, r: &MemberRemoveResponse) -> CmdResult {
        print_member_changed(o, id, "removed from", &r.header);
        Ok(())
    }
    fn member_update(&self, o: &mut Output, id: u64, r: &MemberUpdateResponse) -> CmdResult {
        print_member_changed(o, id, "updated in", &r.header);
        Ok(())
    }
    fn member_promote(&self, o: &mut Output, id: u64, r: &MemberPromoteResponse) -> CmdResult {
        print_member_changed(o, id, "promoted in", &r.header);
        Ok(())
    }
    fn member_list(&self, o: &mut Output, r: &MemberListResponse) -> CmdResult {
        print_rows(o, make_member_list_table(r))
    }
    fn endpoint_health(&self, o: &mut Output, hs: &[EpHealth]) -> CmdResult {
        print_endpoint_health(o, hs)
    }
    fn endpoint_status(&self, o: &mut Output, ss: &[EpStatus]) -> CmdResult {
        print_rows(o, make_endpoint_status_table(ss))
    }
    fn endpoint_hash_kv(&self, o: &mut Output, hs: &[EpHashKv]) -> CmdResult {
        print_rows(o, make_endpoint_hash_kv_table(hs))
    }
    fn db_status(&self, o: &mut Output, st: &crate::snapshot::Status) -> CmdResult {
        print_rows(o, make_db_status_table(st))
    }
    fn alarm(&self, o: &mut Output, r: &AlarmResponse) -> CmdResult {
        for a in &r.alarms {
            o.out(format!("{}\n", alarm_text(a)));
        }
        Ok(())
    }
    fn lease_grant(&self, o: &mut Output, r: &LeaseGrantResponse) -> CmdResult {
        o.out(format!(
            "lease {:016x} granted with TTL({}s)\n",
            r.id, r.ttl
        ));
        Ok(())
    }
    fn lease_revoke(&self, o: &mut Output, id: i64, _r: &LeaseRevokeResponse) -> CmdResult {
        o.out(format!("lease {id:016x} revoked\n"));
        Ok(())
    }
    fn lease_keep_alive(&self, o: &mut Output, r: &LeaseKeepAliveResponse) -> CmdResult {
        o.live(format!("lease {:016x} keepalived with TTL({})\n", r.id, r.ttl).as_bytes());
        Ok(())
    }
    fn lease_time_to_live(
        &self,
        o: &mut Output,
        r: &LeaseTimeToLiveResponse,
        keys: bool,
    ) -> CmdResult {
        if r.granted_ttl == 0 && r.ttl == -1 {
            o.out(format!("lease {:016x} already expired\n", r.id));
            return Ok(());
        }
        let mut txt = format!(
            "lease {:016x} granted with TTL({}s), remaining({}s)",
            r.id, r.granted_ttl, r.ttl
        );
        if keys {
            // Go's %v of a []string: space-separated in brackets.
            let ks: Vec<String> = r
                .keys
                .iter()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
            txt.push_str(&format!(", attached keys([{}])", ks.join(" ")));
        }
        o.out(format!("{txt}\n"));
        Ok(())
    }
    fn watch(&self, o: &mut Output, r: &WatchResponse) -> CmdResult {
        let mut w = Output::default();
        for e in &r.events {
            let put = e.r#type == crate::pb::mvccpb::event::EventType::Put as i32;
            w.out(if put { "PUT\n" } else { "DELETE\n" });
            if let Some(p) = &e.prev_kv {
                print_kv(&mut w, self.is_hex, self.value_only, p);
            }
            print_kv(
                &mut w,
                self.is_hex,
                self.value_only,
                &e.kv.clone().unwrap_or_default(),
            );
        }
        o.live(&w.stdout);
        Ok(())
    }
    fn lease_leases(&self, o: &mut Output, r: &LeaseLeasesResponse) -> CmdResult {
        o.out(format!("found {} leases\n", r.leases.len()));
        for l in &r.leases {
            o.out(format!("{:016x}\n", l.id));
        }
        Ok(())
    }
}
