//! etcd's JSON gateway: every gRPC method under `/v3/` (and `/v3beta/`, as
//! etcd 3.4 rewrites it) as an HTTP POST with a JSON body, the way
//! grpc-gateway v1.9.5 with etcd 3.4's registration answers:
//!
//! * bodies are proto3 JSON with the proto field names (`range_end`, not
//!   `rangeEnd`, though either is accepted), 64-bit integers as strings,
//!   bytes as base64, enums by name, zero values left out; unknown fields
//!   are ignored;
//! * a unary answer is the message itself; a stream's answers are
//!   `{"result":…}` lines, an error in a stream is an `{"error":{…}}` line;
//! * a bidirectional stream (Watch, LeaseKeepAlive) takes every JSON value
//!   of the body as one request, then closes its sending side (so a watch
//!   goes on answering, a keep-alive answers once and ends);
//! * errors are `{"error":…,"message":…,"code":…}` with grpc-gateway's HTTP
//!   status for the gRPC code; the `Authorization` header is the token.
//!
//! etcd's gateway dials its own port; oxcd's calls the same services
//! in-process ([`GrpcLoopback`]), so a gateway request passes the same
//! interceptors, limits and permission checks as a gRPC one. The request
//! and response types come from the compiled descriptors, so there is one
//! transcoder for every route rather than one per message.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use futures::StreamExt;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, MethodDescriptor,
    SerializeOptions,
};
use tonic::{Code, Status};

use super::http::go_error;
use crate::rt::net::{HttpRequest, HttpResponse};

/// The descriptors of every proto oxcd compiles (written by build.rs).
const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/oxcd_descriptor.bin"));

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(DESCRIPTOR_SET).expect("build.rs writes a valid descriptor set")
    })
}

/// etcd 3.4's `google.api.http` bindings: path, service, method. Every one
/// is a POST with the whole message as its body. `/v3/maintenance/hash`
/// is bound twice upstream (Hash and HashKV); grpc-gateway serves the
/// first, Hash, so HashKV has no route, as in etcd.
const ROUTES: &[(&str, &str, &str)] = &[
    ("/v3/kv/range", "etcdserverpb.KV", "Range"),
    ("/v3/kv/put", "etcdserverpb.KV", "Put"),
    ("/v3/kv/deleterange", "etcdserverpb.KV", "DeleteRange"),
    ("/v3/kv/txn", "etcdserverpb.KV", "Txn"),
    ("/v3/kv/compaction", "etcdserverpb.KV", "Compact"),
    ("/v3/watch", "etcdserverpb.Watch", "Watch"),
    ("/v3/lease/grant", "etcdserverpb.Lease", "LeaseGrant"),
    ("/v3/lease/revoke", "etcdserverpb.Lease", "LeaseRevoke"),
    ("/v3/kv/lease/revoke", "etcdserverpb.Lease", "LeaseRevoke"),
    (
        "/v3/lease/keepalive",
        "etcdserverpb.Lease",
        "LeaseKeepAlive",
    ),
    (
        "/v3/lease/timetolive",
        "etcdserverpb.Lease",
        "LeaseTimeToLive",
    ),
    (
        "/v3/kv/lease/timetolive",
        "etcdserverpb.Lease",
        "LeaseTimeToLive",
    ),
    ("/v3/lease/leases", "etcdserverpb.Lease", "LeaseLeases"),
    ("/v3/kv/lease/leases", "etcdserverpb.Lease", "LeaseLeases"),
    (
        "/v3/cluster/member/add",
        "etcdserverpb.Cluster",
        "MemberAdd",
    ),
    (
        "/v3/cluster/member/remove",
        "etcdserverpb.Cluster",
        "MemberRemove",
    ),
    (
        "/v3/cluster/member/update",
        "etcdserverpb.Cluster",
        "MemberUpdate",
    ),
    (
        "/v3/cluster/member/list",
        "etcdserverpb.Cluster",
        "MemberList",
    ),
    (
        "/v3/cluster/member/promote",
        "etcdserverpb.Cluster",
        "MemberPromote",
    ),
    ("/v3/maintenance/alarm", "etcdserverpb.Maintenance", "Alarm"),
    (
        "/v3/maintenance/status",
        "etcdserverpb.Maintenance",
        "Status",
    ),
    (
        "/v3/maintenance/defragment",
        "etcdserverpb.Maintenance",
        "Defragment",
    ),
    ("/v3/maintenance/hash", "etcdserverpb.Maintenance", "Hash"),
    (
        "/v3/maintenance/snapshot",
        "etcdserverpb.Maintenance",
        "Snapshot",
    ),
    (
        "/v3/maintenance/transfer-leadership",
        "etcdserverpb.Maintenance",
        "MoveLeader",
    ),
    ("/v3/auth/enable", "etcdserverpb.Auth", "AuthEnable"),
    ("/v3/auth/disable", "etcdserverpb.Auth", "AuthDisable"),
    ("/v3/auth/authenticate", "etcdserverpb.Auth", "Authenticate"),
    ("/v3/auth/user/add", "etcdserverpb.Auth", "UserAdd"),
    ("/v3/auth/user/get", "etcdserverpb.Auth", "UserGet"),
    ("/v3/auth/user/list", "etcdserverpb.Auth", "UserList"),
    ("/v3/auth/user/delete", "etcdserverpb.Auth", "UserDelete"),
    (
        "/v3/auth/user/changepw",
        "etcdserverpb.Auth",
        "UserChangePassword",
    ),
    ("/v3/auth/user/grant", "etcdserverpb.Auth", "UserGrantRole"),
    (
        "/v3/auth/user/revoke",
        "etcdserverpb.Auth",
        "UserRevokeRole",
    ),
    ("/v3/auth/role/add", "etcdserverpb.Auth", "RoleAdd"),
    ("/v3/auth/role/get", "etcdserverpb.Auth", "RoleGet"),
    ("/v3/auth/role/list", "etcdserverpb.Auth", "RoleList"),
    ("/v3/auth/role/delete", "etcdserverpb.Auth", "RoleDelete"),
    (
        "/v3/auth/role/grant",
        "etcdserverpb.Auth",
        "RoleGrantPermission",
    ),
    (
        "/v3/auth/role/revoke",
        "etcdserverpb.Auth",
        "RoleRevokePermission",
    ),
    ("/v3/lock/lock", "v3lockpb.Lock", "Lock"),
    ("/v3/lock/unlock", "v3lockpb.Lock", "Unlock"),
    ("/v3/election/campaign", "v3electionpb.Election", "Campaign"),
    ("/v3/election/proclaim", "v3electionpb.Election", "Proclaim"),
    ("/v3/election/leader", "v3electionpb.Election", "Leader"),
    ("/v3/election/observe", "v3electionpb.Election", "Observe"),
    ("/v3/election/resign", "v3electionpb.Election", "Resign"),
];

/// One method of etcd's client services, labelled as go-grpc-prometheus
/// labels it.
pub struct GrpcMethod {
    pub service: String,
    pub method: String,
    /// `unary`, `client_stream`, `server_stream` or `bidi_stream`.
    pub kind: &'static str,
}

/// Every method of etcdserverpb's services by its gRPC path
/// (`/etcdserverpb.KV/Range`), built once from the descriptors.
pub fn grpc_methods() -> &'static BTreeMap<String, GrpcMethod> {
    static METHODS: OnceLock<BTreeMap<String, GrpcMethod>> = OnceLock::new();
    METHODS.get_or_init(|| {
        let mut out = BTreeMap::new();
        for svc in pool().services() {
            // etcd 3.4 counts etcdserverpb's services only.
            if svc.package_name() != "etcdserverpb" {
                continue;
            }
            for m in svc.methods() {
                let kind = match (m.is_client_streaming(), m.is_server_streaming()) {
                    (false, false) => "unary",
                    (true, false) => "client_stream",
                    (false, true) => "server_stream",
                    (true, true) => "bidi_stream",
                };
                let labels = GrpcMethod {
                    service: svc.full_name().to_string(),
                    method: m.name().to_string(),
                    kind,
                };
                out.insert(format!("/{}/{}", svc.full_name(), m.name()), labels);
            }
        }
        out
    })
}

/// Bounds the requests one body may carry to a bidirectional stream.
const STREAM_REQUESTS_MAX: usize = 1000;

fn method(path: &str) -> Option<MethodDescriptor> {
    let (_, service, name) = ROUTES.iter().find(|(p, _, _)| *p == path)?;
    let svc = pool().get_service_by_name(service)?;
    let found = svc.methods().find(|m| m.name() == *name);
    assert!(
        found.is_some(),
        "route to a method the protos lack: {service}/{name}"
    );
    found
}

/// The gateway's answer, or `None` when the path is not the gateway's.
pub async fn serve(req: &HttpRequest) -> Option<HttpResponse> {
    let path = match req.path.strip_prefix("/v3beta/") {
        Some(rest) => format!("/v3/{rest}"),
        None if req.path.starts_with("/v3/") => req.path.clone(),
        None => return None,
    };
    // grpc-gateway's `DefaultOtherErrorHandler` is Go's `http.Error`.
    let Some(method) = method(&path) else {
        return Some(go_error(404, "Not Found"));
    };
    if req.method != "POST" {
        return Some(go_error(405, "Method Not Allowed"));
    }
    Some(call(req, &method).await)
}

async fn call(req: &HttpRequest, method: &MethodDescriptor) -> HttpResponse {
    let requests = match decode_body(&req.body, &method.input(), method.is_client_streaming()) {
        Ok(r) => r,
        Err(why) => return error_response(&Status::invalid_argument(why)),
    };
    let Some(grpc) = req.grpc.as_ref() else {
        return error_response(&Status::unimplemented("no gRPC services on this port"));
    };
    let metadata = req
        .authorization
        .iter()
        .map(|a| ("authorization", a.clone()))
        .collect();
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    let replies = match grpc.call(&path, metadata, requests).await {
        Ok(r) => r,
        Err(s) => return error_response(&s),
    };
    let output = method.output();
    if method.is_server_streaming() {
        let lines = replies
            .scan(false, move |ended, reply| {
                if *ended {
                    return futures::future::ready(None);
                }
                let line = match reply.and_then(|b| to_json(&output, &b)) {
                    Ok(json) => format!("{{\"result\":{json}}}\n"),
                    Err(s) => {
                        *ended = true;
                        format!("{{\"error\":{}}}\n", stream_error(&s))
                    }
                };
                futures::future::ready(Some(line.into_bytes()))
            })
            .boxed();
        let mut resp = HttpResponse::new(200, json_headers(), vec![]);
        resp.stream = Some(lines);
        return resp;
    }
    let mut replies = replies;
    let first = replies.next().await;
    // Read the call to its end (its status), as grpc-go's unary client does.
    let end = match first {
        Some(Ok(_)) => replies.next().await,
        _ => None,
    };
    match (first, end) {
        (_, Some(Err(s))) | (Some(Err(s)), _) => error_response(&s),
        (Some(Ok(bytes)), _) => match to_json(&output, &bytes) {
            Ok(json) => HttpResponse::new(200, json_headers(), json.into_bytes()),
            Err(s) => error_response(&s),
        },
        (None, _) => error_response(&Status::internal("empty response")),
    }
}

/// The body's JSON values as encoded requests: exactly one (an empty body
/// is the empty message) unless the method streams its requests.
fn decode_body(
    body: &[u8],
    input: &MessageDescriptor,
    streaming: bool,
) -> Result<Vec<Vec<u8>>, String> {
    let opts = DeserializeOptions::new().deny_unknown_fields(false);
    let mut out = Vec::new();
    for value in serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>() {
        let value = value.map_err(|e| e.to_string())?;
        let msg = DynamicMessage::deserialize_with_options(input.clone(), value, &opts)
            .map_err(|e| e.to_string())?;
        out.push(prost::Message::encode_to_vec(&msg));
        // grpc-gateway reads one value for a unary call and ignores the rest.
        if !streaming {
            break;
        }
        if out.len() >= STREAM_REQUESTS_MAX {
            return Err(format!(
                "more than {STREAM_REQUESTS_MAX} requests in one body"
            ));
        }
    }
    if out.is_empty() && !streaming {
        out.push(Vec::new());
    }
    Ok(out)
}

fn to_json(desc: &MessageDescriptor, bytes: &[u8]) -> Result<String, Status> {
    let msg = DynamicMessage::decode(desc.clone(), bytes)
        .map_err(|e| Status::internal(format!("undecodable reply: {e}")))?;
    let opts = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(true)
        .skip_default_fields(true);
    let mut out = serde_json::Serializer::new(Vec::new());
    msg.serialize_with_options(&mut out, &opts)
        .map_err(|e| Status::internal(e.to_string()))?;
    String::from_utf8(out.into_inner()).map_err(|e| Status::internal(e.to_string()))
}

fn json_headers() -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        // grpc-gateway passes the reply's header metadata on, prefixed.
        ("grpc-metadata-content-type", "application/grpc".into()),
    ]
}

/// grpc-gateway v1's `HTTPStatusFromCode`.
fn http_status(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::Cancelled => 408,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
        Code::InvalidArgument | Code::OutOfRange => 400,
        Code::FailedPrecondition => 412,
        Code::DeadlineExceeded => 504,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::PermissionDenied => 403,
        Code::Unauthenticated => 401,
        Code::ResourceExhausted => 429,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
    }
}

/// Go's `http.StatusText` for the statuses above.
fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        412 => "Precondition Failed",
        429 => "Too Many Requests",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Internal Server Error",
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// grpc-gateway's `DefaultHTTPError` body: the message twice, then the code.
fn error_response(s: &Status) -> HttpResponse {
    let msg = json_string(s.message());
    let body = format!(
        "{{\"error\":{msg},\"message\":{msg},\"code\":{}}}",
        s.code() as i32
    );
    HttpResponse::new(
        http_status(s.code()),
        vec![("content-type", "application/json".into())],
        body.into_bytes(),
    )
}

/// The `error` of a stream's line (grpc-gateway's `StreamError`).
fn stream_error(s: &Status) -> String {
    let http = http_status(s.code());
    format!(
        "{{\"grpc_code\":{},\"http_code\":{http},\"message\":{},\"http_status\":{}}}",
        s.code() as i32,
        json_string(s.message()),
        json_string(status_text(http)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::etcdserverpb::{RangeRequest, RangeResponse, ResponseHeader};
    use crate::pb::mvccpb::KeyValue;

    #[test]
    fn every_route_names_a_method() {
        for (path, _, _) in ROUTES {
            assert!(method(path).is_some(), "{path}");
        }
        let watch = method("/v3/watch").unwrap();
        assert!(watch.is_client_streaming() && watch.is_server_streaming());
        assert!(!method("/v3/kv/range").unwrap().is_server_streaming());
    }

    #[test]
    fn requests_take_either_field_name_and_ignore_unknown_ones() {
        let input = method("/v3/kv/range").unwrap().input();
        let body =
            br#"{"key":"Zm9v","rangeEnd":"AA==","limit":"2","sort_order":"DESCEND","bogus":1}"#;
        let got = decode_body(body, &input, false).unwrap();
        let req: RangeRequest = prost::Message::decode(&got[0][..]).unwrap();
        assert_eq!(req.key, b"foo");
        assert_eq!(req.range_end, b"\0");
        assert_eq!((req.limit, req.sort_order), (2, 2));
        // An empty body is the empty request; bad JSON is the client's error.
        assert_eq!(
            decode_body(b"", &input, false).unwrap(),
            vec![Vec::<u8>::new()]
        );
        assert!(decode_body(br##"{"key":"#"}"##, &input, false).is_err());
        assert!(decode_body(br#"{"key":"Zm9v"#, &input, false).is_err());
    }

    #[test]
    fn a_stream_body_is_a_sequence_of_requests() {
        let input = method("/v3/watch").unwrap().input();
        let body = br#"{"create_request":{"key":"YQ=="}} {"progress_request":{}}"#;
        assert_eq!(decode_body(body, &input, true).unwrap().len(), 2);
        assert!(decode_body(b"", &input, true).unwrap().is_empty());
    }

    #[test]
    fn replies_as_etcd_prints_them() {
        let resp = RangeResponse {
            header: Some(ResponseHeader {
                cluster_id: 14841639068965178418,
                member_id: 1,
                revision: 2,
                raft_term: 2,
            }),
            kvs: vec![KeyValue {
                key: b"foo".to_vec(),
                create_revision: 2,
                mod_revision: 2,
                version: 1,
                value: b"bar".to_vec(),
                lease: 0,
            }],
            more: false,
            count: 1,
        };
        let out = method("/v3/kv/range").unwrap().output();
        let json = to_json(&out, &prost::Message::encode_to_vec(&resp)).unwrap();
        // Real etcd 3.4.23's body for the same range.
        assert_eq!(
            json,
            r#"{"header":{"cluster_id":"14841639068965178418","member_id":"1","revision":"2","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}"#
        );
    }

    #[test]
    fn errors_as_grpc_gateway() {
        let r = error_response(&Status::invalid_argument("etcdserver: key is not provided"));
        assert_eq!(r.status, 400);
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3}"#
        );
        assert_eq!(
            stream_error(&Status::unauthenticated("etcdserver: invalid auth token")),
            r#"{"grpc_code":16,"http_code":401,"message":"etcdserver: invalid auth token","http_status":"Unauthorized"}"#
        );
        assert_eq!(go_error(404, "Not Found").body, b"Not Found\n");
    }
}
