//! The time base of every history, the clock faults a checker must allow
//! for, and the workloads' random source. Time under the simulator is
//! simulated time since the simulation began; on real processes (jepsen/)
//! it is monotonic time since this process first asked, so both kinds of
//! run log on one axis.

use std::time::Duration;

/// A raft tick, as the members run it (the default heartbeat interval).
pub const TICK: Duration = Duration::from_millis(100);

/// A clock fault, in [`now`]'s time base.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClockFault {
    /// A clock ran at `rate` times real speed over `[from, to)`.
    Skew {
        from: Duration,
        to: Duration,
        rate: f64,
    },
    /// A clock leapt `by` ahead at `at`.
    Jump { at: Duration, by: Duration },
}

/// Time since the run began (the time base of every log).
#[cfg(madsim)]
pub fn now() -> Duration {
    madsim::time::TimeHandle::current().elapsed()
}

/// Time since the run began (the time base of every log).
#[cfg(not(madsim))]
pub fn now() -> Duration {
    // tokio's clock (the seam's), started at the first reading.
    static START: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(tokio::time::Instant::now).elapsed()
}

/// The most any member's clock can have advanced over the real interval
/// `[a, b]`: its length, plus what fast clocks gained in it, plus the jumps
/// delivered in it (a jump is delivered at the member's next tick, so one
/// up to a tick before `a` counts too). Slow clocks gain nothing.
pub fn max_advance(log: &[ClockFault], a: Duration, b: Duration) -> Duration {
    let mut adv = b.saturating_sub(a);
    for f in log {
        match *f {
            ClockFault::Skew { from, to, rate } if rate > 1.0 => {
                let overlap = to.min(b).saturating_sub(from.max(a));
                adv += overlap.mul_f64(rate - 1.0);
            }
            ClockFault::Jump { at, by } if at + TICK >= a && at <= b => adv += by,
            _ => {}
        }
    }
    adv
}

/// The workloads' random source: the simulator's seeded RNG under madsim,
/// otherwise one process-wide generator seeded by [`set_seed`] (jepsen/
/// prints its seed, so a run's choices can be drawn again).
#[cfg(madsim)]
pub fn rng() -> impl rand::RngCore {
    madsim::rand::thread_rng()
}

#[cfg(not(madsim))]
static PROCESS_RNG: std::sync::Mutex<Option<rand::rngs::StdRng>> = std::sync::Mutex::new(None);

/// Seeds [`rng`] outside the simulator.
#[cfg(not(madsim))]
pub fn set_seed(seed: u64) {
    use rand::SeedableRng;
    *PROCESS_RNG.lock().expect("rng lock") = Some(rand::rngs::StdRng::seed_from_u64(seed));
}

/// The workloads' random source (see the simulator's twin above).
#[cfg(not(madsim))]
pub fn rng() -> impl rand::RngCore {
    ProcessRng
}

#[cfg(not(madsim))]
struct ProcessRng;

#[cfg(not(madsim))]
impl ProcessRng {
    fn with<T>(f: impl FnOnce(&mut rand::rngs::StdRng) -> T) -> T {
        use rand::SeedableRng;
        let mut g = PROCESS_RNG.lock().expect("rng lock");
        f(g.get_or_insert_with(|| rand::rngs::StdRng::seed_from_u64(0)))
    }
}

#[cfg(not(madsim))]
impl rand::RngCore for ProcessRng {
    fn next_u32(&mut self) -> u32 {
        Self::with(|r| r.next_u32())
    }
    fn next_u64(&mut self) -> u64 {
        Self::with(|r| r.next_u64())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        Self::with(|r| r.fill_bytes(dest))
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        Self::with(|r| r.try_fill_bytes(dest))
    }
}
