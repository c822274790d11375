//! The "protobuf" output format (etcdctl's `printer_protobuf.go`): the
//! response's wire encoding, as the server sent it.

use prost::Message;

use crate::pb::etcdserverpb::{
    AlarmResponse, DeleteRangeResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, MemberAddResponse,
    MemberListResponse, MemberPromoteResponse, MemberRemoveResponse, MemberUpdateResponse,
    PutResponse, RangeResponse, ResponseHeader, TxnResponse, WatchResponse,
};

use super::endpoint::{EpHealth, EpStatus};
use super::print::Printer;
use super::printer_simple::print_endpoint_health;
use super::{CmdResult, Output};

fn print_pb(o: &mut Output, m: &impl Message) -> CmdResult {
    o.out(m.encode_to_vec());
    Ok(())
}

pub(super) struct PbPrinter;

impl Printer for PbPrinter {
    fn name(&self) -> &'static str {
        "protobuf"
    }
    fn get(&self, o: &mut Output, r: &RangeResponse) -> CmdResult {
        print_pb(o, r)
    }
    fn put(&self, o: &mut Output, r: &PutResponse) -> CmdResult {
        print_pb(o, r)
    }
    fn del(&self, o: &mut Output, r: &DeleteRangeResponse) -> CmdResult {
        print_pb(o, r)
    }
    fn txn(&self, o: &mut Output, r: &TxnResponse) -> CmdResult {
        print_pb(o, r)
    }
    fn member_add(&self, o: &mut Output, r: &MemberAddResponse) -> CmdResult {
        print_pb(o, r)
    }
    fn member_remove(&self, o: &mut Output, _id: u64, r: &MemberRemoveResponse) -> CmdResult {
        print_pb(o, r)
    }
    fn member_update(&self, o: &mut Output, _id: u64, r: &MemberUpdateResponse) -> CmdResult {
        print_pb(o, r)
    }
    fn member_promote(&self, o: &mut Output, _id: u64, r: &MemberPromoteResponse) -> CmdResult {
        print_pb(o, r)
    }
    fn member_list(&self, o: &mut Output, r: &MemberListResponse) -> CmdResult {
        print_pb(o, r)
    }
    /// oxcd prints the simple format's lines here, as it always has;
    /// etcdctl 3.4 refuses protobuf for `endpoint health`.
    fn endpoint_health(&self, o: &mut Output, hs: &[EpHealth]) -> CmdResult {
        print_endpoint_health(o, hs)
    }
    /// One encoded `StatusResponse` after another.
    fn endpoint_status(&self, o: &mut Output, ss: &[EpStatus]) -> CmdResult {
        for s in ss {
            print_pb(o, &s.resp)?;
        }
        Ok(())
    }
    // clientv3's lease responses are Go structs embedding the header, whose
    // Marshal method is all the protobuf printer finds: the header alone.
    fn alarm(&self, o: &mut Output, r: &AlarmResponse) -> CmdResult {
        print_pb(o, r)
    }
    fn lease_grant(&self, o: &mut Output, r: &LeaseGrantResponse) -> CmdResult {
        print_pb(o, &r.header.unwrap_or_default())
    }
    fn lease_keep_alive(&self, o: &mut Output, r: &LeaseKeepAliveResponse) -> CmdResult {
        o.live(&r.header.unwrap_or_default().encode_to_vec());
        Ok(())
    }
    fn lease_time_to_live(
        &self,
        o: &mut Output,
        r: &LeaseTimeToLiveResponse,
        _keys: bool,
    ) -> CmdResult {
        print_pb(o, &r.header.unwrap_or_default())
    }
    fn lease_leases(&self, o: &mut Output, r: &LeaseLeasesResponse) -> CmdResult {
        print_pb(o, &r.header.unwrap_or_default())
    }
    fn watch(&self, o: &mut Output, r: &WatchResponse) -> CmdResult {
        o.live(&r.encode_to_vec());
        Ok(())
    }
    /// `clientv3.LeaseRevokeResponse` has no Marshal method at all.
    fn lease_revoke(&self, _o: &mut Output, _id: i64, r: &LeaseRevokeResponse) -> CmdResult {
        Err(super::Fail(
            super::global::EXIT_BAD_FEATURE,
            format!(
                "marshal unsupported for type clientv3.LeaseRevokeResponse ({{{}}})",
                proto_text(&r.header.unwrap_or_default())
            ),
        ))
    }
}

/// A header as gogoproto's `String()` renders it: set fields, each followed
/// by a space.
fn proto_text(h: &ResponseHeader) -> String {
    let mut s = String::new();
    let mut field = |k: &str, v: String, set: bool| {
        if set {
            s.push_str(&format!("{k}:{v} "));
        }
    };
    field("cluster_id", h.cluster_id.to_string(), h.cluster_id != 0);
    field("member_id", h.member_id.to_string(), h.member_id != 0);
    field("revision", h.revision.to_string(), h.revision != 0);
    field("raft_term", h.raft_term.to_string(), h.raft_term != 0);
    s
}
