//! etcdctl 3.4's output formats (its `printer.go`): each command hands its
//! response to the printer `--write-out` names (simple, json, fields,
//! table, protobuf: `printer_*.rs`), which prints it in its format or
//! refuses a response it has no layout for.

use crate::pb::etcdserverpb::{
    AlarmResponse, DeleteRangeResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, MemberAddResponse,
    MemberListResponse, MemberPromoteResponse, MemberRemoveResponse, MemberUpdateResponse,
    PutResponse, RangeResponse, TxnResponse, WatchResponse,
};

use crate::snapshot::Status;

use super::endpoint::{EpHashKv, EpHealth, EpStatus};
use super::global::{Ctx, EXIT_BAD_FEATURE};
use super::printer_fields::FieldsPrinter;
use super::printer_json::JsonPrinter;
use super::printer_protobuf::PbPrinter;
use super::printer_simple::SimplePrinter;
use super::printer_table::TablePrinter;
use super::{CmdResult, Fail, Output};

// The formats' building blocks, public as they were when this module held them.
pub use super::printer_fields::Fields;
pub use super::printer_json::{
    base64, del_json, header_json, json_str, kv_json, member_json, put_json, range_json,
    status_json, txn_json, Obj,
};
pub use super::printer_table::table;
pub use super::util::{go_duration, go_quote, humanize_bytes};

/// A response in one output format. A format without a layout for a
/// response keeps the default: etcdctl's "<format> not supported as output
/// format" (exit 4), after the command has done its work.
pub(super) trait Printer {
    /// The format's `--write-out` name.
    fn name(&self) -> &'static str;

    fn unsupported(&self) -> CmdResult {
        Err(Fail(
            EXIT_BAD_FEATURE,
            format!("{} not supported as output format", self.name()),
        ))
    }

    fn get(&self, _o: &mut Output, _r: &RangeResponse) -> CmdResult {
        self.unsupported()
    }
    fn put(&self, _o: &mut Output, _r: &PutResponse) -> CmdResult {
        self.unsupported()
    }
    fn del(&self, _o: &mut Output, _r: &DeleteRangeResponse) -> CmdResult {
        self.unsupported()
    }
    fn txn(&self, _o: &mut Output, _r: &TxnResponse) -> CmdResult {
        self.unsupported()
    }
    fn member_add(&self, _o: &mut Output, _r: &MemberAddResponse) -> CmdResult {
        self.unsupported()
    }
    fn member_remove(&self, _o: &mut Output, _id: u64, _r: &MemberRemoveResponse) -> CmdResult {
        self.unsupported()
    }
    fn member_update(&self, _o: &mut Output, _id: u64, _r: &MemberUpdateResponse) -> CmdResult {
        self.unsupported()
    }
    fn member_promote(&self, _o: &mut Output, _id: u64, _r: &MemberPromoteResponse) -> CmdResult {
        self.unsupported()
    }
    fn member_list(&self, _o: &mut Output, _r: &MemberListResponse) -> CmdResult {
        self.unsupported()
    }
    fn endpoint_health(&self, _o: &mut Output, _hs: &[EpHealth]) -> CmdResult {
        self.unsupported()
    }
    fn endpoint_status(&self, _o: &mut Output, _ss: &[EpStatus]) -> CmdResult {
        self.unsupported()
    }
    fn endpoint_hash_kv(&self, _o: &mut Output, _hs: &[EpHashKv]) -> CmdResult {
        self.unsupported()
    }
    fn lease_grant(&self, _o: &mut Output, _r: &LeaseGrantResponse) -> CmdResult {
        self.unsupported()
    }
    fn lease_revoke(&self, _o: &mut Output, _id: i64, _r: &LeaseRevokeResponse) -> CmdResult {
        self.unsupported()
    }
    fn lease_keep_alive(&self, _o: &mut Output, _r: &LeaseKeepAliveResponse) -> CmdResult {
        self.unsupported()
    }
    fn lease_time_to_live(
        &self,
        _o: &mut Output,
        _r: &LeaseTimeToLiveResponse,
        _keys: bool,
    ) -> CmdResult {
        self.unsupported()
    }
    fn lease_leases(&self, _o: &mut Output, _r: &LeaseLeasesResponse) -> CmdResult {
        self.unsupported()
    }
    /// `snapshot status`.
    fn db_status(&self, _o: &mut Output, _st: &Status) -> CmdResult {
        self.unsupported()
    }
    fn alarm(&self, _o: &mut Output, _r: &AlarmResponse) -> CmdResult {
        self.unsupported()
    }
    /// One watch response, printed as it comes.
    fn watch(&self, _o: &mut Output, _r: &WatchResponse) -> CmdResult {
        self.unsupported()
    }
}

/// The printer `--write-out` names (etcdctl's `NewPrinter`); an unknown
/// format fails before the command does anything.
pub(super) fn new_printer(ctx: &Ctx) -> Result<Box<dyn Printer>, Fail> {
    Ok(match ctx.format() {
        "simple" => Box::new(SimplePrinter {
            is_hex: ctx.bool("hex"),
            value_only: ctx.bool("print-value-only"),
        }),
        "json" => Box::new(JsonPrinter),
        "fields" => Box::new(FieldsPrinter),
        "protobuf" => Box::new(PbPrinter),
        "table" => Box::new(TablePrinter),
        other => {
            return Err(Fail(
                EXIT_BAD_FEATURE,
                format!("unknown output format {other:?}"),
            ))
        }
    })
}

/// A table's header (as tablewriter shows it, upper case) and rows; the
/// simple format prints the same rows, comma-separated.
pub(super) type Table = (&'static [&'static str], Vec<Vec<String>>);

pub(super) fn make_member_list_table(r: &MemberListResponse) -> Table {
    let hdr: &[&str] = &[
        "ID",
        "STATUS",
        "NAME",
        "PEER ADDRS",
        "CLIENT ADDRS",
        "IS LEARNER",
    ];
    let rows = r
        .members
        .iter()
        .map(|m| {
            // A member added but not yet started has no name.
            let status = if m.name.is_empty() {
                "unstarted"
            } else {
                "started"
            };
            vec![
                format!("{:x}", m.id),
                status.to_string(),
                m.name.clone(),
                m.peer_ur_ls.join(","),
                m.client_ur_ls.join(","),
                m.is_learner.to_string(),
            ]
        })
        .collect();
    (hdr, rows)
}

pub(super) fn make_endpoint_health_table(hs: &[EpHealth]) -> Table {
    let hdr: &[&str] = &["ENDPOINT", "HEALTH", "TOOK", "ERROR"];
    let rows = hs
        .iter()
        .map(|h| {
            vec![
                h.ep.clone(),
                h.health.is_ok().to_string(),
                h.took.clone(),
                h.health.as_ref().err().cloned().unwrap_or_default(),
            ]
        })
        .collect();
    (hdr, rows)
}

pub(super) fn make_endpoint_status_table(ss: &[EpStatus]) -> Table {
    let hdr: &[&str] = &[
        "ENDPOINT",
        "ID",
        "VERSION",
        "DB SIZE",
        "IS LEADER",
        "IS LEARNER",
        "RAFT TERM",
        "RAFT INDEX",
        "RAFT APPLIED INDEX",
        "ERRORS",
    ];
    let rows = ss
        .iter()
        .map(|EpStatus { ep, resp: s }| {
            let member = s.header.as_ref().map_or(0, |h| h.member_id);
            vec![
                ep.to_string(),
                format!("{member:x}"),
                s.version.clone(),
                humanize_bytes(s.db_size as u64),
                (s.leader == member).to_string(),
                s.is_learner.to_string(),
                s.raft_term.to_string(),
                s.raft_index.to_string(),
                s.raft_applied_index.to_string(),
                s.errors.join(", "),
            ]
        })
        .collect();
    (hdr, rows)
}

pub(super) fn make_endpoint_hash_kv_table(hs: &[EpHashKv]) -> Table {
    let hdr: &[&str] = &["ENDPOINT", "HASH"];
    let rows = hs
        .iter()
        .map(|h| vec![h.ep.clone(), h.resp.hash.to_string()])
        .collect();
    (hdr, rows)
}

pub(super) fn make_db_status_table(st: &Status) -> Table {
    let hdr: &[&str] = &["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"];
    let row = vec![
        format!("{:x}", st.hash),
        st.revision.to_string(),
        st.total_key.to_string(),
        humanize_bytes(st.total_size),
    ];
    (hdr, vec![row])
}
