//! Checkers: one file per property, each citing its source.

pub mod auth;
pub mod bank;
pub mod kv;
pub mod lease;
pub mod linearizability;
pub mod lock;
pub mod replicas;
pub mod revisions;
pub mod watch;
