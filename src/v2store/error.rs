//! etcd's `v2error`: the v2 API's numbered errors, their messages and HTTP
//! statuses. The body is `{"errorCode":100,"message":"Key not found",
//! "cause":"/testkey2","index":7}` (no `cause` when it is empty).

use super::json;

/// A v2 error code (etcd's `Ecode…` constants).
pub type ErrorCode = u32;

pub const ECODE_KEY_NOT_FOUND: ErrorCode = 100;
pub const ECODE_TEST_FAILED: ErrorCode = 101;
pub const ECODE_NOT_FILE: ErrorCode = 102;
pub const ECODE_NOT_DIR: ErrorCode = 104;
pub const ECODE_NODE_EXIST: ErrorCode = 105;
pub const ECODE_ROOT_RONLY: ErrorCode = 107;
pub const ECODE_DIR_NOT_EMPTY: ErrorCode = 108;
pub const ECODE_UNAUTHORIZED: ErrorCode = 110;
pub const ECODE_PREV_VALUE_REQUIRED: ErrorCode = 201;
pub const ECODE_TTL_NAN: ErrorCode = 202;
pub const ECODE_INDEX_NAN: ErrorCode = 203;
pub const ECODE_INVALID_FIELD: ErrorCode = 209;
pub const ECODE_INVALID_FORM: ErrorCode = 210;
pub const ECODE_REFRESH_VALUE: ErrorCode = 211;
pub const ECODE_REFRESH_TTL_REQUIRED: ErrorCode = 212;
pub const ECODE_RAFT_INTERNAL: ErrorCode = 300;
pub const ECODE_LEADER_ELECT: ErrorCode = 301;
pub const ECODE_WATCHER_CLEARED: ErrorCode = 400;
pub const ECODE_EVENT_INDEX_CLEARED: ErrorCode = 401;

/// etcd's message for `code`; empty for a code etcd does not know.
pub fn message(code: ErrorCode) -> &'static str {
    match code {
        100 => "Key not found",
        101 => "Compare failed",
        102 => "Not a file",
        103 => "Reached the max number of peers in the cluster",
        104 => "Not a directory",
        105 => "Key already exists",
        106 => "The prefix of given key is a keyword in etcd",
        107 => "Root is read only",
        108 => "Directory not empty",
        109 => "Peer address has existed",
        110 => "The request requires user authentication",
        200 => "Value is Required in POST form",
        201 => "PrevValue is Required in POST form",
        202 => "The given TTL in POST form is not a number",
        203 => "The given index in POST form is not a number",
        204 => "Value or TTL is required in POST form",
        205 => "The given timeout in POST form is not a number",
        206 => "Name is required in POST form",
        207 => "Index or value is required",
        208 => "Index and value cannot both be specified",
        209 => "Invalid field",
        210 => "Invalid POST form",
        211 => "Value provided on refresh",
        212 => "A TTL must be provided on refresh",
        300 => "Raft Internal Error",
        301 => "During Leader Election",
        400 => "watcher is cleared due to etcd recovery",
        401 => "The event in requested index is outdated and cleared",
        402 => "Standby Internal Error",
        403 => "Invalid active size",
        404 => "Standby remove delay",
        500 => "Client Internal Error",
        _ => "",
    }
}

/// A v2 error: what the store, or the request's validation, refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Error {
    pub code: ErrorCode,
    pub cause: String,
    /// The store's index when it refused (0 for a request refused before it
    /// reached the store).
    pub index: u64,
}

impl V2Error {
    pub fn new(code: ErrorCode, cause: impl Into<String>, index: u64) -> Self {
        V2Error {
            code,
            cause: cause.into(),
            index,
        }
    }

    /// A request refused before the store saw it (etcd's `NewRequestError`).
    pub fn request(code: ErrorCode, cause: impl Into<String>) -> Self {
        V2Error::new(code, cause, 0)
    }

    pub fn message(&self) -> &'static str {
        message(self.code)
    }

    /// The HTTP status etcd answers this error with.
    pub fn status(&self) -> u16 {
        match self.code {
            ECODE_KEY_NOT_FOUND => 404,
            ECODE_NOT_FILE | ECODE_DIR_NOT_EMPTY => 403,
            ECODE_UNAUTHORIZED => 401,
            ECODE_TEST_FAILED | ECODE_NODE_EXIST => 412,
            ECODE_RAFT_INTERNAL | ECODE_LEADER_ELECT => 500,
            _ => 400,
        }
    }

    /// The JSON body, without etcd's trailing newline.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.cause.len());
        out.push('{');
        json::push_key(&mut out, "errorCode");
        out.push_str(&self.code.to_string());
        out.push(',');
        json::push_key(&mut out, "message");
        json::push_str(&mut out, self.message());
        if !self.cause.is_empty() {
            out.push(',');
            json::push_key(&mut out, "cause");
            json::push_str(&mut out, &self.cause);
        }
        out.push(',');
        json::push_key(&mut out, "index");
        out.push_str(&self.index.to_string());
        out.push('}');
        out
    }
}

impl std::fmt::Display for V2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.cause)
    }
}

impl std::error::Error for V2Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_statuses_as_etcd() {
        // Bodies etcd 3.4 answered.
        let e = V2Error::new(ECODE_KEY_NOT_FOUND, "/testkey2", 5);
        assert_eq!(
            e.to_json(),
            r#"{"errorCode":100,"message":"Key not found","cause":"/testkey2","index":5}"#
        );
        assert_eq!(e.status(), 404);
        let e = V2Error::request(ECODE_INDEX_NAN, r#"invalid value for "prevIndex""#);
        assert_eq!(
            e.to_json(),
            r#"{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \"prevIndex\"","index":0}"#
        );
        assert_eq!(e.status(), 400);
        let e = V2Error::new(ECODE_NOT_FILE, "", 1058);
        assert_eq!(
            e.to_json(),
            r#"{"errorCode":102,"message":"Not a file","index":1058}"#
        );
        assert_eq!(e.status(), 403);
        assert_eq!(V2Error::new(ECODE_NODE_EXIST, "/k", 1).status(), 412);
        assert_eq!(V2Error::new(ECODE_DIR_NOT_EMPTY, "/k", 1).status(), 403);
        assert_eq!(V2Error::new(ECODE_ROOT_RONLY, "/", 1).status(), 400);
        assert_eq!(V2Error::new(ECODE_EVENT_INDEX_CLEARED, "", 1).status(), 400);
    }
}
