//! Server errors as etcd's `rpctypes` sends them: gRPC code and message.

use tonic::Status;

use crate::lease::LeaseError;
use crate::membership::MemberError;
use crate::mvcc::MvccError;
use crate::server::{RecipeError, ServerError};

/// Maps a server error to the status etcd's `rpctypes` would send.
pub fn to_status(e: ServerError) -> Status {
    match e {
        ServerError::Mvcc(MvccError::Compacted) | ServerError::Mvcc(MvccError::FutureRev) => {
            Status::out_of_range(format!("etcdserver: {e}"))
        }
        ServerError::Mvcc(MvccError::KeyNotFound) => Status::invalid_argument(e.to_string()),
        ServerError::Mvcc(MvccError::LeaseNotFound) => Status::not_found(e.to_string()),
        ServerError::Lease(LeaseError::NotFound) => Status::not_found(e.to_string()),
        ServerError::Lease(LeaseError::Exists) => Status::failed_precondition(e.to_string()),
        ServerError::Lease(LeaseError::TtlTooLarge) => Status::out_of_range(e.to_string()),
        ServerError::Member(MemberError::NotFound) => Status::not_found(e.to_string()),
        ServerError::Member(MemberError::BadUrls) => Status::invalid_argument(e.to_string()),
        ServerError::Member(MemberError::Unhealthy) => Status::unavailable(e.to_string()),
        // etcd 3.4 sends this one without a gRPC code of its own.
        ServerError::Member(MemberError::NotEnoughStarted) => Status::unknown(e.to_string()),
        ServerError::Member(_) => Status::failed_precondition(e.to_string()),
        ServerError::Auth(a) => Status::new(a.code(), e.to_string()),
        ServerError::NoSpace => Status::resource_exhausted(e.to_string()),
        ServerError::Corrupt => Status::data_loss(e.to_string()),
        ServerError::Timeout
        | ServerError::NoLeader
        | ServerError::Stopped
        | ServerError::TimeoutLeaderTransfer => Status::unavailable(e.to_string()),
        ServerError::NotLeader | ServerError::BadLeaderTransferee => {
            Status::failed_precondition(e.to_string())
        }
    }
}

/// A recipe's failure as etcd's v3lock and v3election services send it:
/// they run the recipes over an in-process client, which turns the
/// server's status into a plain error (`rpctypes.EtcdError`), and gRPC
/// sends a plain error with code `Unknown` and its text.
pub fn recipe_status(e: RecipeError) -> Status {
    match e {
        RecipeError::Server(e) => Status::unknown(to_status(e).message()),
        e => Status::unknown(e.to_string()),
    }
}
