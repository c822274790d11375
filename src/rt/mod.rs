//! The runtime seam. Server code reaches time, tasks, randomness and disks
//! only through `tokio::*` (renamed to madsim-tokio in Cargo.toml) and this
//! module, so the same code runs on real tokio and in madsim's simulator.

pub mod disk;
pub mod faults;
pub mod net;
pub mod rand;
pub mod signal;
pub mod stdin;
pub mod stream;
pub mod time;
