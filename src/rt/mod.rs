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

/// Runs CPU- or disk-heavy work off the async workers on real runtimes;
/// the simulator runs it in place (it has no threads to spare, and
/// simulated time does not pass while it runs).
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    #[cfg(not(madsim))]
    {
        match tokio::task::spawn_blocking(f).await {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    #[cfg(madsim)]
    {
        f()
    }
}

/// The `process_*` metrics of this process (resident memory, open files,
/// CPU time), read from `/proc` at each scrape. None in simulation, where
/// every member shares one process.
pub fn process_metrics() -> Option<Box<dyn prometheus::core::Collector>> {
    #[cfg(not(madsim))]
    {
        Some(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
    }
    #[cfg(madsim)]
    {
        None
    }
}
