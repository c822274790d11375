//! The clock seam: the one place server code reads the runtime's clock.
//! Under madsim, std's monotonic clock is the simulator's (madsim overrides
//! `clock_gettime`), so a reading is deterministic there; elsewhere the
//! lint that forbids `Instant::now` keeps clock reads to this function.

/// The runtime's monotonic clock now.
#[allow(clippy::disallowed_methods)]
pub fn now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}
