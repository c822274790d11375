//! The keys API's responses (`client.Response`, `client.Node`) as the Go
//! client decodes them, and etcdctl's `printResponseKey`: `simple` (the
//! value), `extended` (RFC 2822-style fields) and `json` (Go's
//! `encoding/json` of the response, field order and `omitempty` as the
//! structs declare them).

use serde_json::Value;

use crate::ctl::print::json_str;
use crate::rt::net::http1::HttpReply;

use super::client::ClientError;
use super::Io;

const INVALID_JSON: &str =
    "client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint";

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    pub key: String,
    pub dir: bool,
    pub value: String,
    pub nodes: Option<Vec<Node>>,
    pub created_index: u64,
    pub modified_index: u64,
    /// As the server wrote it (Go writes back what it read).
    pub expiration: Option<String>,
    pub ttl: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Response {
    pub action: String,
    pub node: Option<Node>,
    pub prev_node: Option<Node>,
    /// `X-Etcd-Index`.
    pub index: u64,
}

fn node_from(v: &Value) -> Option<Node> {
    let o = v.as_object()?;
    let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let u = |k: &str| o.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(Node {
        key: s("key"),
        dir: o.get("dir").and_then(Value::as_bool).unwrap_or(false),
        value: s("value"),
        nodes: o
            .get("nodes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(node_from).collect()),
        created_index: u("createdIndex"),
        modified_index: u("modifiedIndex"),
        expiration: o
            .get("expiration")
            .and_then(Value::as_str)
            .map(str::to_string),
        ttl: o.get("ttl").and_then(Value::as_i64).unwrap_or(0),
    })
}

/// `unmarshalHTTPResponse`: a 200/201 answer is a response (an empty
/// body is `ErrEmptyBody`, `Ok(None)`), anything else an etcd error.
pub fn keys_response(r: &HttpReply) -> Result<Option<Response>, ClientError> {
    match r.status {
        200 | 201 => {
            if r.body.is_empty() {
                return Ok(None);
            }
            let v: Value = serde_json::from_slice(&r.body)
                .map_err(|_| ClientError::Other(INVALID_JSON.into()))?;
            let index = match r.header("X-Etcd-Index") {
                "" => 0,
                s => s.parse().map_err(|_| {
                    ClientError::Other(format!("strconv.ParseUint: parsing {s:?}: invalid syntax"))
                })?,
            };
            Ok(Some(Response {
                action: v
                    .get("action")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                node: v.get("node").and_then(node_from),
                prev_node: v.get("prevNode").and_then(node_from),
                index,
            }))
        }
        _ => Err(etcd_error(&r.body)),
    }
}

/// `unmarshalFailedKeysResponse`.
pub fn etcd_error(body: &[u8]) -> ClientError {
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) else {
        return ClientError::Other(INVALID_JSON.into());
    };
    ClientError::Etcd {
        code: o.get("errorCode").and_then(Value::as_i64).unwrap_or(0),
        message: o
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .into(),
        cause: o.get("cause").and_then(Value::as_str).unwrap_or("").into(),
        index: o.get("index").and_then(Value::as_u64).unwrap_or(0),
    }
}

fn node_json(n: &Node) -> String {
    let mut s = format!("{{\"key\":{}", json_str(&n.key));
    if n.dir {
        s.push_str(",\"dir\":true");
    }
    s.push_str(&format!(",\"value\":{}", json_str(&n.value)));
    match &n.nodes {
        None => s.push_str(",\"nodes\":null"),
        Some(ns) => {
            let items: Vec<String> = ns.iter().map(node_json).collect();
            s.push_str(&format!(",\"nodes\":[{}]", items.join(",")));
        }
    }
    s.push_str(&format!(
        ",\"createdIndex\":{},\"modifiedIndex\":{}",
        n.created_index, n.modified_index
    ));
    if let Some(e) = &n.expiration {
        s.push_str(&format!(",\"expiration\":{}", json_str(e)));
    }
    if n.ttl != 0 {
        s.push_str(&format!(",\"ttl\":{}", n.ttl));
    }
    s.push('}');
    s
}

fn opt_node_json(n: &Option<Node>) -> String {
    n.as_ref().map_or_else(|| "null".into(), node_json)
}

/// The response as `-o json` prints it.
pub fn response_json(r: &Response) -> String {
    format!(
        "{{\"action\":{},\"node\":{},\"prevNode\":{}}}",
        json_str(&r.action),
        opt_node_json(&r.node),
        opt_node_json(&r.prev_node)
    )
}

/// etcdctl's `printResponseKey`.
pub fn print_response_key(io: &mut Io, r: &Response, format: &str) {
    let node = r.node.clone().unwrap_or_default();
    match format {
        "simple" => {
            if r.action != "delete" {
                io.out(&format!("{}\n", node.value));
            } else {
                let prev = r.prev_node.clone().unwrap_or_default();
                io.out(&format!("PrevNode.Value: {}\n", prev.value));
            }
        }
        "extended" => {
            let mut s = format!(
                "Key: {}\nCreated-Index: {}\nModified-Index: {}\n",
                node.key, node.created_index, node.modified_index
            );
            if let Some(p) = &r.prev_node {
                s.push_str(&format!("PrevNode.Value: {}\n", p.value));
            }
            s.push_str(&format!("TTL: {}\nIndex: {}\n", node.ttl, r.index));
            if r.action != "delete" {
                s.push_str(&format!("\n{}\n", node.value));
            }
            io.out(&s);
        }
        "json" => io.out(&format!("{}\n", response_json(r))),
        other => io.err(&format!("Unsupported output format: {other}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_json_of_a_response() {
        let body = br#"{"action":"set","node":{"key":"/a","value":"<b>","modifiedIndex":7,"createdIndex":7},"prevNode":{"key":"/a","dir":true,"nodes":[],"modifiedIndex":5,"createdIndex":5,"ttl":3,"expiration":"2026-01-01T00:00:00.5Z"}}"#;
        let reply = HttpReply {
            status: 201,
            headers: vec![("X-Etcd-Index".into(), "7".into())],
            body: body.to_vec(),
        };
        let r = keys_response(&reply).unwrap().unwrap();
        assert_eq!(r.index, 7);
        assert_eq!(
            response_json(&r),
            r#"{"action":"set","node":{"key":"/a","value":"\u003cb\u003e","nodes":null,"createdIndex":7,"modifiedIndex":7},"prevNode":{"key":"/a","dir":true,"value":"","nodes":[],"createdIndex":5,"modifiedIndex":5,"expiration":"2026-01-01T00:00:00.5Z","ttl":3}}"#
        );
    }
}
