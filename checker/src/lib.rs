//! What a test run records and how it is judged, shared by the two harnesses
//! that run oxcd under faults: `sim/` (the whole cluster inside madsim) and
//! `jepsen/` (real processes, real network faults). One copy of each:
//!
//! - [`workload`]: clients that drive a cluster through the public gRPC API
//!   and record a history (register, kv, bank, watch, lease, lock);
//! - [`model`]: a reference model of etcd's KV semantics;
//! - [`checker`]: one file per property (linearizability, revisions,
//!   replicas, watch, lease, lock);
//! - [`clock`]: the histories' time base and the clock faults a checker
//!   allows for; [`coverage`]: what a run exercised.
//!
//! The workloads use `tokio`, `tonic` and `madsim`'s time and RNG, so they
//! are the simulator's under `--cfg madsim` and real ones otherwise.

pub mod checker;
pub mod clock;
pub mod coverage;
pub mod model;
pub mod workload;
