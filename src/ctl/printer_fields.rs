//! The "fields" output format (etcdctl's `printer_fields.go`): every field
//! of the response on a line of its own, `"Name" : value`, strings quoted
//! as Go's `%q`.

use crate::pb::etcdserverpb::{
    response_op, AlarmResponse, DeleteRangeResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, MemberListResponse,
    PutResponse, RangeResponse, ResponseHeader, TxnResponse, WatchResponse,
};
use crate::pb::mvccpb::KeyValue;

use super::alarm::alarm_type_name;
use super::endpoint::{EpHashKv, EpHealth, EpStatus};
use super::global::EXIT_GO_PANIC;
use super::print::Printer;
use super::printer_simple::print_endpoint_health;
use super::util::go_quote;
use super::{CmdResult, Output};

/// Lines for the "fields" format.
pub struct Fields(pub String);

impl Fields {
    pub fn line(&mut self, k: &str, v: impl std::fmt::Display) {
        self.0.push_str(&format!("\"{k}\" : {v}\n"));
    }
    pub fn header(&mut self, h: &Option<ResponseHeader>) {
        let h = h.unwrap_or_default();
        self.line("ClusterID", h.cluster_id);
        self.line("MemberID", h.member_id);
        self.line("Revision", h.revision);
        self.line("RaftTerm", h.raft_term);
    }
    pub fn kv(&mut self, prefix: &str, kv: &KeyValue) {
        self.line(&format!("{prefix}Key"), go_quote(&kv.key));
        self.line(&format!("{prefix}CreateRevision"), kv.create_revision);
        self.line(&format!("{prefix}ModRevision"), kv.mod_revision);
        self.line(&format!("{prefix}Version"), kv.version);
        self.line(&format!("{prefix}Value"), go_quote(&kv.value));
        self.line(&format!("{prefix}Lease"), kv.lease);
    }
    pub fn range(&mut self, r: &RangeResponse) {
        self.header(&r.header);
        for kv in &r.kvs {
            self.kv("", kv);
        }
        self.line("More", r.more);
        self.line("Count", r.count);
    }
    pub fn put(&mut self, r: &PutResponse) {
        self.header(&r.header);
        if let Some(p) = &r.prev_kv {
            self.kv("Prev", p);
        }
    }
    pub fn del(&mut self, r: &DeleteRangeResponse) {
        self.header(&r.header);
        self.line("Deleted", r.deleted);
        for kv in &r.prev_kvs {
            self.kv("Prev", kv);
        }
    }
    pub fn txn(&mut self, r: &TxnResponse) {
        self.header(&r.header);
        self.line("Succeeded", r.succeeded);
        for op in &r.responses {
            match &op.response {
                Some(response_op::Response::ResponseRange(x)) => self.range(x),
                Some(response_op::Response::ResponsePut(x)) => self.put(x),
                Some(response_op::Response::ResponseDeleteRange(x)) => self.del(x),
                Some(response_op::Response::ResponseTxn(x)) => self.txn(x),
                None => {}
            }
        }
    }
}

/// The first lines Go's runtime prints when etcdctl dereferences nil.
const GO_NIL_PANIC: &str = "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x0]\n";

pub(super) struct FieldsPrinter;

impl FieldsPrinter {
    /// Fills a fresh set of lines and prints them.
    fn print(o: &mut Output, fill: impl FnOnce(&mut Fields)) -> CmdResult {
        let mut f = Fields(String::new());
        fill(&mut f);
        o.out(f.0);
        Ok(())
    }
}

impl Printer for FieldsPrinter {
    fn name(&self) -> &'static str {
        "fields"
    }
    fn get(&self, o: &mut Output, r: &RangeResponse) -> CmdResult {
        Self::print(o, |f| f.range(r))
    }
    fn put(&self, o: &mut Output, r: &PutResponse) -> CmdResult {
        Self::print(o, |f| f.put(r))
    }
    fn del(&self, o: &mut Output, r: &DeleteRangeResponse) -> CmdResult {
        Self::print(o, |f| f.del(r))
    }
    fn txn(&self, o: &mut Output, r: &TxnResponse) -> CmdResult {
        Self::print(o, |f| f.txn(r))
    }
    fn member_list(&self, o: &mut Output, r: &MemberListResponse) -> CmdResult {
        Self::print(o, |f| {
            f.header(&r.header);
            for m in &r.members {
                f.line("ID", m.id);
                f.line("Name", go_quote(m.name.as_bytes()));
                for u in &m.peer_ur_ls {
                    f.line("PeerURL", go_quote(u.as_bytes()));
                }
                for u in &m.client_ur_ls {
                    f.line("ClientURL", go_quote(u.as_bytes()));
                }
                f.line("IsLearner", m.is_learner);
                f.0.push('\n');
            }
        })
    }
    /// oxcd prints the simple format's lines here, as it always has;
    /// etcdctl 3.4 prints `Endpoint`, `Health`, `Took` and `Error` fields.
    fn endpoint_health(&self, o: &mut Output, hs: &[EpHealth]) -> CmdResult {
        print_endpoint_health(o, hs)
    }
    fn endpoint_status(&self, o: &mut Output, ss: &[EpStatus]) -> CmdResult {
        Self::print(o, |f| {
            for EpStatus { ep, resp: s } in ss {
                f.header(&s.header);
                f.line("Version", go_quote(s.version.as_bytes()));
                f.line("DBSize", s.db_size);
                f.line("Leader", s.leader);
                f.line("IsLearner", s.is_learner);
                f.line("RaftIndex", s.raft_index);
                f.line("RaftTerm", s.raft_term);
                f.line("RaftAppliedIndex", s.raft_applied_index);
                f.line("Errors", format!("[{}]", s.errors.join(" ")));
                f.line("Endpoint", go_quote(ep.as_bytes()));
                f.0.push('\n');
            }
        })
    }
    fn endpoint_hash_kv(&self, o: &mut Output, hs: &[EpHashKv]) -> CmdResult {
        Self::print(o, |f| {
            for EpHashKv { ep, resp: h } in hs {
                f.header(&h.header);
                f.line("Endpoint", go_quote(ep.as_bytes()));
                f.line("Hash", h.hash);
                f.0.push('\n');
            }
        })
    }
    fn db_status(&self, o: &mut Output, st: &crate::snapshot::Status) -> CmdResult {
        Self::print(o, |f| {
            f.line("Hash", st.hash);
            f.line("Revision", st.revision);
            f.line("Keys", st.total_key);
            f.line("Size", st.total_size);
        })
    }
    /// etcdctl 3.4 reads the header without checking for one, and etcd
    /// 3.4 answers alarm requests without a header: it dies of a nil
    /// pointer (exit 2, Go's runtime panic) before printing anything.
    fn alarm(&self, o: &mut Output, r: &AlarmResponse) -> CmdResult {
        if r.header.is_none() {
            o.err(GO_NIL_PANIC);
            o.code = EXIT_GO_PANIC;
            return Ok(());
        }
        Self::print(o, |f| {
            f.header(&r.header);
            for a in &r.alarms {
                f.line("MemberID", a.member_id);
                f.line("AlarmType", alarm_type_name(a.alarm));
                f.0.push('\n');
            }
        })
    }
    fn lease_grant(&self, o: &mut Output, r: &LeaseGrantResponse) -> CmdResult {
        let mut f = Fields(String::new());
        f.header(&r.header);
        f.line("ID", r.id);
        f.line("TTL", r.ttl);
        o.out(f.0);
        Ok(())
    }
    fn lease_revoke(&self, o: &mut Output, _id: i64, r: &LeaseRevokeResponse) -> CmdResult {
        let mut f = Fields(String::new());
        f.header(&r.header);
        o.out(f.0);
        Ok(())
    }
    fn lease_keep_alive(&self, o: &mut Output, r: &LeaseKeepAliveResponse) -> CmdResult {
        let mut f = Fields(String::new());
        f.header(&r.header);
        f.line("ID", r.id);
        f.line("TTL", r.ttl);
        o.live(f.0.as_bytes());
        Ok(())
    }
    fn lease_time_to_live(
        &self,
        o: &mut Output,
        r: &LeaseTimeToLiveResponse,
        _keys: bool,
    ) -> CmdResult {
        let mut f = Fields(String::new());
        f.header(&r.header);
        f.line("ID", r.id);
        f.line("TTL", r.ttl);
        f.line("GrantedTTL", r.granted_ttl);
        for k in &r.keys {
            f.line("Key", go_quote(k));
        }
        o.out(f.0);
        Ok(())
    }
    fn watch(&self, o: &mut Output, r: &WatchResponse) -> CmdResult {
        let mut f = Fields(String::new());
        f.header(&r.header);
        for e in &r.events {
            let put = e.r#type == crate::pb::mvccpb::event::EventType::Put as i32;
            f.line("Type", if put { "PUT" } else { "DELETE" });
            if let Some(p) = &e.prev_kv {
                f.kv("Prev", p);
            }
            f.kv("", &e.kv.clone().unwrap_or_default());
        }
        o.live(f.0.as_bytes());
        Ok(())
    }
    fn lease_leases(&self, o: &mut Output, r: &LeaseLeasesResponse) -> CmdResult {
        let mut f = Fields(String::new());
        f.header(&r.header);
        for l in &r.leases {
            f.line("ID", l.id);
        }
        o.out(f.0);
        Ok(())
    }
}
