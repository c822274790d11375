//! The clock seam: the one place server code reads the runtime's clock.
//! Under madsim, std's monotonic clock is the simulator's (madsim overrides
//! `clock_gettime`), so a reading is deterministic there; elsewhere the
//! lint that forbids `Instant::now` keeps clock reads to this function.

/// The runtime's monotonic clock now.
#[allow(clippy::disallowed_methods)]
pub fn now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// The wall clock in unix nanoseconds: what v2 TTLs expire by (etcd's
/// v2 store reads `time.Now()`). Under madsim it is the simulator's clock.
#[allow(clippy::disallowed_methods)]
pub fn unix_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
