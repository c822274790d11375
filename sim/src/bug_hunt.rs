//! Bug-finding power, shown rather than assumed: switch one deliberately
//! wrong behaviour on (`oxcd::bugs`), run a scenario over seeds, and report
//! the first seed whose checkers fail.

use std::future::Future;
use std::ops::Range;
use std::panic::AssertUnwindSafe;

use oxcd::bugs::Bug;

/// The first seed in `seeds` at which `scenario` fails (or panics) with
/// `bug` switched on, and why.
pub fn hunt<F, Fut>(bug: Bug, seeds: Range<u64>, scenario: &F) -> Option<(u64, String)>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<String, String>> + 'static,
{
    oxcd::bugs::inject(bug);
    for seed in seeds {
        let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
        match std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(scenario()))) {
            Ok(Ok(_)) => {}
            Ok(Err(why)) => return Some((seed, why)),
            Err(p) => {
                let why = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                return Some((seed, format!("panicked: {why}")));
            }
        }
    }
    None
}

/// Seeds tried before declaring a bug escaped.
pub const SEED_BUDGET: u64 = 20;

/// Asserts that `scenario` catches `bug` within [`SEED_BUDGET`] seeds, and
/// that the seed that caught it passes with the bug switched off (a false
/// alarm of the checkers is not a catch).
pub fn expect_caught<F, Fut>(bug: Bug, scenario: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<String, String>> + 'static,
{
    let (seed, why) = hunt(bug, 1..SEED_BUDGET + 1, &scenario)
        .unwrap_or_else(|| panic!("{bug:?} escaped all {SEED_BUDGET} seeds"));
    let first_line = why.lines().next().unwrap_or("");
    println!("{bug:?} caught at seed {seed}: {first_line}");
    oxcd::bugs::clear();
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    if let Err(why) = rt.block_on(scenario()) {
        panic!("seed {seed} fails without {bug:?} too, so it did not catch the bug: {why}");
    }
}
