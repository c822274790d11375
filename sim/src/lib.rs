//! oxcd's simulation framework: runs the real server code as madsim nodes,
//! with [`SimDisk`] and [`MemBackend`] that survive a node's kill and restart
//! but lose what was not made durable.
//!
//! Only compiled into anything useful under `--cfg madsim`; `cargo test
//! --features sim` at the workspace root arranges that (see `tests/sim.rs`).

#[cfg(madsim)]
pub mod auth_scenario;
#[cfg(all(madsim, feature = "bugs"))]
pub mod bug_hunt;
#[cfg(madsim)]
pub mod cluster;
#[cfg(madsim)]
pub mod kv_scenario;
#[cfg(madsim)]
pub mod lease_scenario;
#[cfg(madsim)]
pub mod lock_scenario;
#[cfg(madsim)]
pub mod membership;
#[cfg(madsim)]
pub mod nemesis;
#[cfg(madsim)]
pub mod ops_scenario;
#[cfg(madsim)]
pub mod scenario;
#[cfg(madsim)]
pub mod watch_scenario;

// The workloads, model and checkers live in `oxcd-checker`, which jepsen/
// shares; their paths here stay what the scenarios were written against.
pub use oxcd_checker::{checker, coverage, model, workload};
