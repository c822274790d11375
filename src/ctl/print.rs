//! etcdctl 3.4's output formats: simple, json (Go `encoding/json` of the
//! response structs: zero fields omitted, bytes base64), fields, table.

use crate::pb::etcdserverpb::{
    response_op, DeleteRangeResponse, Member, PutResponse, RangeResponse, ResponseHeader,
    StatusResponse, TxnResponse,
};
use crate::pb::mvccpb::KeyValue;

/// Go's `%q` for a byte string.
pub fn go_quote(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let valid = std::str::from_utf8(b).is_ok();
    let mut out = String::from("\"");
    if valid {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0c' => out.push_str("\\f"),
                '\x0b' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c => out.push(c),
            }
        }
    } else {
        for &byte in b {
            match byte {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                0x20..=0x7e => out.push(byte as char),
                _ => out.push_str(&format!("\\x{byte:02x}")),
            }
        }
    }
    out.push('"');
    out
}

/// JSON string escaping as Go's encoder does it (HTML-safe).
pub fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

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

/// An ASCII table like olekukonko/tablewriter as etcdctl configures it:
/// centred headers, right-aligned cells.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let sep: String = format!(
        "+{}+\n",
        w.iter()
            .map(|x| "-".repeat(x + 2))
            .collect::<Vec<_>>()
            .join("+")
    );
    let mut out = sep.clone();
    out.push('|');
    for (i, h) in header.iter().enumerate() {
        let gap = w[i] - h.chars().count();
        let l = gap / 2;
        out.push_str(&format!(" {}{}{} |", " ".repeat(l), h, " ".repeat(gap - l)));
    }
    out.push('\n');
    out.push_str(&sep);
    for r in rows {
        out.push('|');
        for (i, c) in r.iter().enumerate().take(n) {
            out.push_str(&format!(" {:>width$} |", c, width = w[i]));
        }
        out.push('\n');
    }
    out.push_str(&sep);
    out
}

/// go-humanize's `Bytes` (SI units), as `endpoint status` shows DB size.
pub fn humanize_bytes(s: u64) -> String {
    if s < 10 {
        return format!("{s} B");
    }
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let e = ((s as f64).ln() / 1000f64.ln()).floor() as usize;
    let val = (s as f64 / 1000f64.powi(e as i32) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {}", UNITS[e])
    } else {
        format!("{val:.0} {}", UNITS[e])
    }
}

/// Go's `time.Duration.String()` for sub-hour durations.
pub fn go_duration(d: std::time::Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let trim = |v: String| {
        if v.contains('.') {
            v.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            v
        }
    };
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{}µs", trim(format!("{:.3}", ns as f64 / 1e3)))
    } else if ns < 1_000_000_000 {
        format!("{}ms", trim(format!("{:.6}", ns as f64 / 1e6)))
    } else {
        format!("{}s", trim(format!("{:.9}", ns as f64 / 1e9)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_go() {
        assert_eq!(base64(b"testkey"), "dGVzdGtleQ==");
        assert_eq!(base64(b"hello world"), "aGVsbG8gd29ybGQ=");
        assert_eq!(humanize_bytes(20480), "20 kB");
        assert_eq!(humanize_bytes(1_500_000), "1.5 MB");
        assert_eq!(humanize_bytes(181), "181 B");
        assert_eq!(
            go_duration(std::time::Duration::from_nanos(1_047_254)),
            "1.047254ms"
        );
        assert_eq!(
            go_duration(std::time::Duration::from_nanos(838_714)),
            "838.714µs"
        );
        assert_eq!(go_quote(b"a\"b\n"), "\"a\\\"b\\n\"");
    }
}
