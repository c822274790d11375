//! Durable state: the WAL (raft log, through the disk seam) and the backend
//! (MVCC history + consistent index).

pub mod backend;
pub mod logstore;
pub mod schema;
pub mod wal;
