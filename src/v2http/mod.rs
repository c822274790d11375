//! etcd's v2 HTTP API (`etcdserver/api/v2http`, plus the v2 half of
//! `etcdserver`: `v2_server.go`, `apply_v2.go`), as pure functions between
//! plain HTTP values and the [`v2store`](crate::v2store): no sockets, no clock.
//!
//! A `/v2/keys/...` request goes:
//! 1. [`route`] names the handler (or Go's `ServeMux` redirect / 404);
//! 2. [`parse_key_request`] validates it into an `etcdserverpb::Request`
//!    (keys under the store's `/1`), turning `ttl` into an expiration with
//!    the caller's `now`;
//! 3. [`needs_consensus`]: POST, PUT, DELETE and a quorum GET (method
//!    `QGET`) go through raft and are applied on every member by
//!    [`apply_v2_request`]; a plain GET or HEAD is answered by this member
//!    at once with [`serve_local`] (a `wait` GET starts a watcher);
//! 4. [`key_event_response`] / [`key_error_response`] /
//!    [`watch_response_head`] + [`watch_event_chunk`] make the answer.
//!
//! The other v2 endpoints' bodies come from plain structs: [`members_body`],
//! [`machines_body`], [`self_stats_body`], [`leader_stats_body`], and the
//! store's own [`Store::json_stats`].

mod apply;
mod bodies;
mod request;

pub use apply::{apply_v2_request, needs_consensus, serve_local, LocalAnswer, V2Answer};
pub use bodies::*;
pub use request::{decoded_path, key_of, parse_form, parse_key_request, route, KeyRequest, Route};

#[cfg(doc)]
use crate::v2store::Store;

/// An HTTP request as the v2 handlers need it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// The path as sent, still percent-encoded.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names in any case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP response; header names as etcd (Go) writes them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// This answer with one more header.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// What every keys answer carries about the cluster and raft.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResponseIds {
    pub cluster_id: u64,
    /// The member's raft term and committed index when it answered.
    pub raft_term: u64,
    pub raft_index: u64,
}

#[cfg(test)]
mod tests;
