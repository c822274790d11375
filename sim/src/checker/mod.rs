//! Checkers: one file per property, each citing its source.

pub mod bank;
pub mod kv;
pub mod linearizability;
pub mod replicas;
pub mod revisions;
