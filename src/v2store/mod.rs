//! etcd's v2 store (`etcdserver/api/v2store`), sans-IO: the hierarchical
//! key space of the v2 API with TTLs, in-order keys, compare-and-swap, an
//! event history of the last 1000 changes and watchers.
//!
//! Nothing here reads a clock or does I/O: every time is an argument, in
//! unix nanoseconds. etcd keeps this store in memory and rebuilds it from
//! raft snapshots ([`Store::save`], [`Store::recover`]) and the log;
//! `v2http` turns HTTP requests into store calls.
//!
//! etcd makes the store with two read-only namespaces: [`STORE_CLUSTER_PREFIX`]
//! (`/0`, where etcd 3.4 also records members) and [`STORE_KEYS_PREFIX`]
//! (`/1`, under which every `/v2/keys/...` key lives).

mod error;
mod event;
mod history;
pub mod json;
mod node;
mod snapshot;
mod stats;
mod store;
mod watcher_hub;

pub use error::*;
pub use event::{Action, Event, NodeExtern};
pub use history::HISTORY_CAPACITY;
/// Go's `path.Clean`.
pub use node::clean as clean_path;
pub use snapshot::SnapshotError;
pub use stats::Stats;
pub use store::{Store, TtlOptions, MIN_EXPIRE_TIME, STORE_VERSION};
pub use watcher_hub::{WatchPoll, WatchStart, WatcherId, WATCHER_QUEUE_CAPACITY};

/// etcd's `StoreClusterPrefix`.
pub const STORE_CLUSTER_PREFIX: &str = "/0";
/// etcd's `StoreKeysPrefix`: the HTTP API's keys live under it.
pub const STORE_KEYS_PREFIX: &str = "/1";

impl Store {
    /// The store etcd's server makes: `/0` and `/1` read-only.
    pub fn new_etcd() -> Store {
        Store::new(&[STORE_CLUSTER_PREFIX, STORE_KEYS_PREFIX])
    }
}

#[cfg(test)]
mod tests;
