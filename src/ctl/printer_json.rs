//! The "json" output format (etcdctl's `printer_json.go`): Go's
//! `encoding/json` of the response structs, whose `omitempty` fields are
//! left out when zero and whose bytes are base64.

use crate::pb::etcdserverpb::{
    response_op, AlarmResponse, DeleteRangeResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, Member, MemberAddResponse,
    MemberListResponse, MemberPromoteResponse, MemberRemoveResponse, MemberUpdateResponse,
    PutResponse, RangeResponse, ResponseHeader, StatusResponse, TxnResponse, WatchResponse,
};
use crate::pb::mvccpb::KeyValue;

use super::endpoint::{EpHashKv, EpHealth, EpStatus};
use super::print::Printer;
use super::{CmdResult, Output};

/// JSON string escaping as Go's encoder does it (HTML-safe).
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    crate::v2store::json::push_str(&mut out, s);
    out
}

/// Go's `encoding/json` writes `[]byte` fields as standard base64.
pub fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(T[(v >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An object under construction; `omitempty` fields are skipped when zero.
#[derive(Default)]
pub struct Obj(Vec<String>);

impl Obj {
    pub fn raw(mut self, k: &str, v: String) -> Self {
        self.0.push(format!("\"{k}\":{v}"));
        self
    }
    pub fn int(self, k: &str, v: i64) -> Self {
        if v == 0 {
            self
        } else {
            self.raw(k, v.to_string())
        }
    }
    pub fn uint(self, k: &str, v: u64) -> Self {
        if v == 0 {
            self
        } else {
            self.raw(k, v.to_string())
        }
    }
    pub fn bytes(self, k: &str, v: &[u8]) -> Self {
        if v.is_empty() {
            self
        } else {
            self.raw(k, format!("\"{}\"", base64(v)))
        }
    }
    pub fn boolean(self, k: &str, v: bool) -> Self {
        if v {
            self.raw(k, "true".into())
        } else {
            self
        }
    }
    pub fn string(self, k: &str, v: &str) -> Self {
        if v.is_empty() {
            self
        } else {
            self.raw(k, json_str(v))
        }
    }
    pub fn opt(self, k: &str, v: Option<String>) -> Self {
        match v {
            Some(v) => self.raw(k, v),
            None => self,
        }
    }
    pub fn list(self, k: &str, items: Vec<String>) -> Self {
        if items.is_empty() {
            self
        } else {
            self.raw(k, format!("[{}]", items.join(",")))
        }
    }
    pub fn done(self) -> String {
        format!("{{{}}}", self.0.join(","))
    }
}

/// The response header, or nothing for a response without one.
pub fn header_json(h: &Option<ResponseHeader>) -> Option<String> {
    let h = h.as_ref()?;
    Some(
        Obj::default()
            .uint("cluster_id", h.cluster_id)
            .uint("member_id", h.member_id)
            .int("revision", h.revision)
            .uint("raft_term", h.raft_term)
            .done(),
    )
}

pub fn kv_json(kv: &KeyValue) -> String {
    Obj::default()
        .bytes("key", &kv.key)
        .int("create_revision", kv.create_revision)
        .int("mod_revision", kv.mod_revision)
        .int("version", kv.version)
        .bytes("value", &kv.value)
        .int("lease", kv.lease)
        .done()
}

pub fn range_json(r: &RangeResponse) -> String {
    Obj::default()
        .opt("header", header_json(&r.header))
        .list("kvs", r.kvs.iter().map(kv_json).collect())
        .boolean("more", r.more)
        .int("count", r.count)
        .done()
}

pub fn put_json(r: &PutResponse) -> String {
    Obj::default()
        .opt("header", header_json(&r.header))
        .opt("prev_kv", r.prev_kv.as_ref().map(kv_json))
        .done()
}

pub fn del_json(r: &DeleteRangeResponse) -> String {
    Obj::default()
        .opt("header", header_json(&r.header))
        .int("deleted", r.deleted)
        .list("prev_kvs", r.prev_kvs.iter().map(kv_json).collect())
        .done()
}

pub fn txn_json(r: &TxnResponse) -> String {
    let responses = r
        .responses
        .iter()
        .map(|op| {
            let inner = match &op.response {
                Some(response_op::Response::ResponseRange(x)) => {
                    format!("{{\"ResponseRange\":{}}}", range_json(x))
                }
                Some(response_op::Response::ResponsePut(x)) => {
                    format!("{{\"ResponsePut\":{}}}", put_json(x))
                }
                Some(response_op::Response::ResponseDeleteRange(x)) => {
                    format!("{{\"ResponseDeleteRange\":{}}}", del_json(x))
                }
                Some(response_op::Response::ResponseTxn(x)) => {
                    format!("{{\"ResponseTxn\":{}}}", txn_json(x))
                }
                None => "null".to_string(),
            };
            format!("{{\"Response\":{inner}}}")
        })
        .collect();
    Obj::default()
        .opt("header", header_json(&r.header))
        .boolean("succeeded", r.succeeded)
        .list("responses", responses)
        .done()
}

pub fn member_json(m: &Member) -> String {
    let strs = |v: &[String]| v.iter().map(|s| json_str(s)).collect::<Vec<_>>();
    Obj::default()
        .uint("ID", m.id)
        .string("name", &m.name)
        .list("peerURLs", strs(&m.peer_ur_ls))
        .list("clientURLs", strs(&m.client_ur_ls))
        .boolean("isLearner", m.is_learner)
        .done()
}

pub fn status_json(s: &StatusResponse) -> String {
    Obj::default()
        .opt("header", header_json(&s.header))
        .string("version", &s.version)
        .int("dbSize", s.db_size)
        .uint("leader", s.leader)
        .uint("raftIndex", s.raft_index)
        .uint("raftTerm", s.raft_term)
        .uint("raftAppliedIndex", s.raft_applied_index)
        .list("errors", s.errors.iter().map(|e| json_str(e)).collect())
        .int("dbSizeInUse", s.db_size_in_use)
        .boolean("isLearner", s.is_learner)
        .done()
}

/// The JSON etcdctl prints for a membership response.
fn members_json(
    header: &Option<ResponseHeader>,
    member: Option<&Member>,
    members: &[Member],
) -> String {
    let mut obj = Obj::default().opt("header", header_json(header));
    if let Some(m) = member {
        obj = obj.raw("member", member_json(m));
    }
    obj.list("members", members.iter().map(member_json).collect())
        .done()
}

/// One JSON value a line, as `printJSON` prints it.
fn print_json(o: &mut Output, json: String) -> CmdResult {
    o.out(format!("{json}\n"));
    Ok(())
}

/// An `endpoint` command's results: a JSON array of one object an endpoint.
fn print_json_list<T>(o: &mut Output, items: &[T], json: fn(&T) -> String) -> CmdResult {
    let items: Vec<String> = items.iter().map(json).collect();
    print_json(o, format!("[{}]", items.join(",")))
}

fn ep_health_json(h: &EpHealth) -> String {
    Obj::default()
        .string("endpoint", &h.ep)
        .boolean("health", h.health.is_ok())
        .string("took", &h.took)
        .string(
            "error",
            h.health.as_ref().err().map(String::as_str).unwrap_or(""),
        )
        .done()
}

fn ep_status_json(s: &EpStatus) -> String {
    format!(
        "{{\"Endpoint\":{},\"Status\":{}}}",
        json_str(&s.ep),
        status_json(&s.resp)
    )
}

fn ep_hash_kv_json(h: &EpHashKv) -> String {
    let hash = Obj::default()
        .opt("header", header_json(&h.resp.header))
        .uint("hash", u64::from(h.resp.hash))
        .int("compact_revision", h.resp.compact_revision)
        .done();
    Obj::default()
        .string("Endpoint", &h.ep)
        .raw("HashKV", hash)
        .done()
}

/// clientv3's lease responses embed `*pb.ResponseHeader`, so Go's JSON
/// encoder flattens the header's (omitempty) fields into the object.
fn flat_header(h: &Option<ResponseHeader>) -> Obj {
    let h = h.unwrap_or_default();
    Obj::default()
        .uint("cluster_id", h.cluster_id)
        .uint("member_id", h.member_id)
        .int("revision", h.revision)
        .uint("raft_term", h.raft_term)
}

/// Go's JSON of an `AlarmResponse`: the alarm type as its number.
fn alarm_json(r: &AlarmResponse) -> String {
    let alarms = r
        .alarms
        .iter()
        .map(|a| {
            Obj::default()
                .uint("memberID", a.member_id)
                .int("alarm", i64::from(a.alarm))
                .done()
        })
        .collect();
    Obj::default()
        .opt("header", header_json(&r.header))
        .list("alarms", alarms)
        .done()
}

fn lease_grant_json(r: &LeaseGrantResponse) -> String {
    flat_header(&r.header)
        .raw("ID", r.id.to_string())
        .raw("TTL", r.ttl.to_string())
        .raw("Error", json_str(&r.error))
        .done()
}

fn lease_keep_alive_json(r: &LeaseKeepAliveResponse) -> String {
    flat_header(&r.header)
        .raw("ID", r.id.to_string())
        .raw("TTL", r.ttl.to_string())
        .done()
}

fn lease_time_to_live_json(r: &LeaseTimeToLiveResponse) -> String {
    // `keys` is a nil slice (null) unless the server sent some.
    let keys = if r.keys.is_empty() {
        "null".to_string()
    } else {
        let ks: Vec<String> = r
            .keys
            .iter()
            .map(|k| format!("\"{}\"", base64(k)))
            .collect();
        format!("[{}]", ks.join(","))
    };
    flat_header(&r.header)
        .raw("id", r.id.to_string())
        .raw("ttl", r.ttl.to_string())
        .raw("granted-ttl", r.granted_ttl.to_string())
        .raw("keys", keys)
        .done()
}

fn lease_leases_json(r: &LeaseLeasesResponse) -> String {
    let ls: Vec<String> = r
        .leases
        .iter()
        .map(|l| format!("{{\"id\":{}}}", l.id))
        .collect();
    flat_header(&r.header)
        .raw("leases", format!("[{}]", ls.join(",")))
        .done()
}

/// clientv3's `WatchResponse`: its header as a plain struct (every field,
/// omitempty), events as `mvccpb.Event`s, and its own fields.
fn watch_json(r: &WatchResponse) -> String {
    let events: Vec<String> = r
        .events
        .iter()
        .map(|e| {
            Obj::default()
                .int("type", i64::from(e.r#type))
                .opt("kv", e.kv.as_ref().map(kv_json))
                .opt("prev_kv", e.prev_kv.as_ref().map(kv_json))
                .done()
        })
        .collect();
    let header = header_json(&r.header).unwrap_or_else(|| "{}".to_string());
    // clientv3 makes the slice, so it is `[]` rather than null when empty.
    let events = format!("[{}]", events.join(","));
    format!(
        "{{\"Header\":{header},\"Events\":{events},\"CompactRevision\":{},\"Canceled\":{},\"Created\":{}}}",
        r.compact_revision, r.canceled, r.created
    )
}

pub(super) struct JsonPrinter;

impl Printer for JsonPrinter {
    fn name(&self) -> &'static str {
        "json"
    }
    fn get(&self, o: &mut Output, r: &RangeResponse) -> CmdResult {
        print_json(o, range_json(r))
    }
    fn put(&self, o: &mut Output, r: &PutResponse) -> CmdResult {
        print_json(o, put_json(r))
    }
    fn del(&self, o: &mut Output, r: &DeleteRangeResponse) -> CmdResult {
        print_json(o, del_json(r))
    }
    fn txn(&self, o: &mut Output, r: &TxnResponse) -> CmdResult {
        print_json(o, txn_json(r))
    }
    fn member_add(&self, o: &mut Output, r: &MemberAddResponse) -> CmdResult {
        print_json(o, members_json(&r.header, r.member.as_ref(), &r.members))
    }
    fn member_remove(&self, o: &mut Output, _id: u64, r: &MemberRemoveResponse) -> CmdResult {
        print_json(o, members_json(&r.header, None, &r.members))
    }
    fn member_update(&self, o: &mut Output, _id: u64, r: &MemberUpdateResponse) -> CmdResult {
        print_json(o, members_json(&r.header, None, &r.members))
    }
    fn member_promote(&self, o: &mut Output, _id: u64, r: &MemberPromoteResponse) -> CmdResult {
        print_json(o, members_json(&r.header, None, &r.members))
    }
    fn member_list(&self, o: &mut Output, r: &MemberListResponse) -> CmdResult {
        print_json(o, members_json(&r.header, None, &r.members))
    }
    fn endpoint_health(&self, o: &mut Output, hs: &[EpHealth]) -> CmdResult {
        print_json_list(o, hs, ep_health_json)
    }
    fn endpoint_status(&self, o: &mut Output, ss: &[EpStatus]) -> CmdResult {
        print_json_list(o, ss, ep_status_json)
    }
    fn endpoint_hash_kv(&self, o: &mut Output, hs: &[EpHashKv]) -> CmdResult {
        print_json_list(o, hs, ep_hash_kv_json)
    }
    fn db_status(&self, o: &mut Output, st: &crate::snapshot::Status) -> CmdResult {
        // `snapshot.Status` has no `omitempty`: every field, zero or not.
        let json = Obj::default()
            .raw("hash", st.hash.to_string())
            .raw("revision", st.revision.to_string())
            .raw("totalKey", st.total_key.to_string())
            .raw("totalSize", st.total_size.to_string())
            .done();
        print_json(o, json)
    }
    fn alarm(&self, o: &mut Output, r: &AlarmResponse) -> CmdResult {
        print_json(o, alarm_json(r))
    }
    fn lease_grant(&self, o: &mut Output, r: &LeaseGrantResponse) -> CmdResult {
        print_json(o, lease_grant_json(r))
    }
    fn lease_revoke(&self, o: &mut Output, _id: i64, r: &LeaseRevokeResponse) -> CmdResult {
        print_json(
            o,
            Obj::default().opt("header", header_json(&r.header)).done(),
        )
    }
    fn lease_keep_alive(&self, o: &mut Output, r: &LeaseKeepAliveResponse) -> CmdResult {
        o.live(format!("{}\n", lease_keep_alive_json(r)).as_bytes());
        Ok(())
    }
    fn lease_time_to_live(
        &self,
        o: &mut Output,
        r: &LeaseTimeToLiveResponse,
        _keys: bool,
    ) -> CmdResult {
        print_json(o, lease_time_to_live_json(r))
    }
    fn lease_leases(&self, o: &mut Output, r: &LeaseLeasesResponse) -> CmdResult {
        print_json(o, lease_leases_json(r))
    }
    fn watch(&self, o: &mut Output, r: &WatchResponse) -> CmdResult {
        o.live(format!("{}\n", watch_json(r)).as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_go() {
        assert_eq!(base64(b"testkey"), "dGVzdGtleQ==");
        assert_eq!(base64(b"hello world"), "aGVsbG8gd29ybGQ=");
    }
}
