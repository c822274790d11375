//! Checkers: one file per property, each citing its source.

pub mod bank;
pub mod kv;
#[cfg(madsim)]
pub mod lease;
pub mod linearizability;
#[cfg(madsim)]
pub mod lock;
pub mod replicas;
pub mod revisions;
#[cfg(madsim)]
pub mod watch;
