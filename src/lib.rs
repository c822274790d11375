//! oxcd: an etcd-compatible distributed key-value store.
//!
//! Layers, top to bottom (see CONTRIBUTING.md for the full picture):
//! `v3rpc` (gRPC services + HTTP) → `server` (propose & wait) → `raftnode`
//! (raft-rs Ready loop) → `apply` (sans-IO: entry → answers, one backend
//! batch, effects; domains `mvcc` and `membership`) → `storage` (WAL through
//! [`rt::disk::Disk`], backend, `schema`).

pub mod alarm;
pub mod apply;
pub mod auth;
pub mod bugs;
pub mod config;
pub mod ctl;
pub mod embed;
pub mod lease;
pub mod logging;
pub mod membership;
pub mod metrics;
pub mod mvcc;
pub mod pb;
pub mod proxy;
pub mod raftnode;
pub mod rt;
pub mod server;
pub mod snapshot;
pub mod srv;
pub mod storage;
pub mod transport;
pub mod v2auth;
pub mod v2http;
pub mod v2store;
pub mod v3rpc;
