//! The Lock proxy (etcd's `proxy/grpcproxy/lock.go`): forwarded. As in
//! etcd 3.4, lock names are not namespaced (the recipe runs on the member).

use super::{forward, Upstream};
use crate::pb::v3lockpb::{lock_server, LockRequest, LockResponse, UnlockRequest, UnlockResponse};

pub struct LockProxy {
    pub up: Upstream,
}

forward! {
    impl lock_server::Lock => LockProxy, lock, std::convert::identity {
        lock(LockRequest) -> LockResponse;
        unlock(UnlockRequest) -> UnlockResponse;
    }
}
