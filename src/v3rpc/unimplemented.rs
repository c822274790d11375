//! Services (or the remaining RPCs of services) that oxcd does not serve
//! yet. Each answers `UNIMPLEMENTED` with a message naming the RPC, so a
//! client learns exactly what is missing. Generated once from `proto/` by a
//! script; edit by hand as RPCs get built (and move them out of here).

use futures::stream::BoxStream;
use tonic::Status;

/// Stream type of an RPC that never produces a stream.
pub type Unsupported<T> = BoxStream<'static, Result<T, Status>>;

pub fn unimplemented(rpc: &str) -> Status {
    Status::unimplemented(format!("oxcd: {rpc} is not implemented yet"))
}
