//! The "protobuf" output format (etcdctl's `printer_protobuf.go`): the
//! response's wire encoding, as the server sent it.

use prost::Message;

use crate::pb::etcdserverpb::{
    DeleteRangeResponse, MemberAddResponse, MemberListResponse, MemberPromoteResponse,
    MemberRemoveResponse, MemberUpdateResponse, PutResponse, RangeResponse, TxnResponse,
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
}
