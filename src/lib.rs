//! oxcd: an etcd-compatible distributed key-value store.
//!
//! Layers, top to bottom (see CONTRIBUTING.md for the full picture):
//! `api` (gRPC v3rpc + HTTP) → `server` (propose & wait) → `raftnode`
//! (raft-rs Ready loop) → `apply` (sans-IO: entry → effects on `mvcc`) →
//! `storage` (WAL through [`rt::disk::Disk`], backend).

pub mod api;
pub mod apply;
pub mod bugs;
pub mod config;
pub mod ctl;
pub mod embed;
pub mod logging;
pub mod mvcc;
pub mod pb;
pub mod raftnode;
pub mod rt;
pub mod server;
pub mod storage;
pub mod transport;
