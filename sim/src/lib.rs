//! oxcd's simulation framework: runs the real server code as madsim nodes,
//! with [`SimDisk`] and [`MemBackend`] that survive a node's kill and restart
//! but lose what was not made durable.
//!
//! Only compiled into anything useful under `--cfg madsim`; `cargo test
//! --features sim` at the workspace root arranges that (see `tests/sim.rs`).

#[cfg(all(madsim, feature = "bugs"))]
pub mod bug_hunt;
pub mod checker;
#[cfg(madsim)]
pub mod cluster;
pub mod coverage;
#[cfg(madsim)]
pub mod kv_scenario;
#[cfg(madsim)]
pub mod lease_scenario;
#[cfg(madsim)]
pub mod lock_scenario;
#[cfg(madsim)]
pub mod membership;
pub mod model;
#[cfg(madsim)]
pub mod nemesis;
#[cfg(madsim)]
pub mod scenario;
#[cfg(madsim)]
pub mod watch_scenario;
#[cfg(madsim)]
pub mod workload;
