//! The seed explorer, for nightly use: runs every scenario over fresh seeds
//! until a seed or time budget is spent, and appends each failing
//! `<scenario> <seed>` to `sim/regressions/seeds.txt`, which every test pass
//! replays. Build it under the simulator:
//!
//! ```text
//! RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/sim \
//!     cargo run --profile sim -p oxcd-sim --bin explore -- [--seeds N] [--minutes M] [--first-seed S] [--only SCENARIO]
//! ```
//!
//! It reports runs per minute, the speed of the simulation (simulated
//! seconds per wall-clock second) and the slowest linearizability check;
//! `--coverage` also prints what the runs exercised (request kinds and
//! fields, compare targets and operators, error answers, faults).
//!
//! `--replay <scenario> <seed>` reruns one failure exactly and prints it whole.
#![allow(clippy::disallowed_methods)] // the explorer's own budget is wall time

#[cfg(madsim)]
fn main() {
    use std::io::Write;
    use std::time::{Duration, Instant};

    let args: Vec<String> = std::env::args().skip(1).collect();
    // `--bug <name>` (with the `bugs` feature): explore a deliberately broken
    // server, to see the whole find-and-replay loop work.
    let bug_flag = match args.iter().position(|a| a == "--bug") {
        Some(i) => {
            let name = args.get(i + 1).expect("--bug <name>");
            inject_bug(name);
            format!(" --bug {name}")
        }
        None => String::new(),
    };
    if let Some(i) = args.iter().position(|a| a == "--replay") {
        // `--replay <scenario> <seed>`: one run, the whole failure printed;
        // with OXCD_SIM_LOG=debug|info|warn, the members' logs too.
        if let Ok(level) = std::env::var("OXCD_SIM_LOG") {
            oxcd::logging::init("capnslog", &level, &[]);
        }
        let name = args.get(i + 1).expect("--replay <scenario> <seed>");
        let seed: u64 = args
            .get(i + 2)
            .and_then(|s| s.parse().ok())
            .expect("a seed");
        match oxcd_sim::scenario::run_seed(name, seed) {
            Ok(report) => println!("ok {name} {seed}{bug_flag}: {report}"),
            Err(why) => {
                println!("FAIL {name} {seed}{bug_flag}: {why}");
                std::process::exit(1);
            }
        }
        return;
    }
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse::<u64>().expect("a number"))
    };
    let seeds = arg("--seeds");
    let minutes = arg("--minutes");
    let first = arg("--first-seed").unwrap_or(1_000_000);
    let (seeds, minutes) = match (seeds, minutes) {
        (None, None) => (Some(100), None),
        other => other,
    };
    let only = args
        .iter()
        .position(|a| a == "--only")
        .map(|i| args.get(i + 1).expect("--only <scenario>").clone());
    let names: Vec<&str> = oxcd_sim::scenario::NAMES
        .iter()
        .copied()
        .filter(|n| only.as_deref().is_none_or(|o| o == *n))
        .collect();
    assert!(!names.is_empty(), "no scenario named {only:?}");
    let deadline = minutes.map(|m| Instant::now() + Duration::from_secs(m * 60));
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/regressions/seeds.txt");
    let start = Instant::now();
    let (mut runs, mut failures) = (0u64, 0u64);
    let mut simulated = Duration::ZERO;
    let mut seed = first;
    loop {
        if seeds.is_some_and(|n| seed >= first + n) || deadline.is_some_and(|d| Instant::now() > d)
        {
            break;
        }
        for name in &names {
            runs += 1;
            let (outcome, sim) = oxcd_sim::scenario::run_seed_timed(name, seed);
            simulated += sim;
            if let Err(why) = outcome {
                failures += 1;
                let first_line = why.lines().next().unwrap_or("");
                println!("FAIL {name} {seed}: {first_line}");
                println!(
                    "  replay: RUSTFLAGS=\"--cfg madsim\" CARGO_TARGET_DIR=target/sim cargo run --profile sim -p oxcd-sim{} --bin explore -- --replay {name} {seed}{bug_flag}",
                    if bug_flag.is_empty() { "" } else { " --features bugs" }
                );
                if !bug_flag.is_empty() {
                    continue; // a planted bug is not a regression to keep
                }
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(file)
                    .expect("open sim/regressions/seeds.txt");
                writeln!(f, "{name} {seed}").expect("append a regression seed");
            }
        }
        seed += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "explored seeds {first}..{seed}: {runs} runs, {failures} failures, {secs:.1} s ({:.0} runs/min); simulated {:.0} s, {:.0}x wall time",
        runs as f64 / secs * 60.0,
        simulated.as_secs_f64(),
        simulated.as_secs_f64() / secs
    );
    println!(
        "slowest linearizability check: {:.1} ms",
        oxcd_sim::coverage::slowest_check().as_secs_f64() * 1e3
    );
    if args.iter().any(|a| a == "--coverage") {
        println!(
            "\n{}",
            oxcd_sim::coverage::table(&oxcd_sim::coverage::snapshot())
        );
    }
    if failures > 0 {
        std::process::exit(1);
    }
}

#[cfg(all(madsim, feature = "bugs"))]
fn inject_bug(name: &str) {
    let bug = oxcd::bugs::Bug::named(name).unwrap_or_else(|| panic!("no bug named {name:?}"));
    oxcd::bugs::inject(bug);
}

#[cfg(all(madsim, not(feature = "bugs")))]
fn inject_bug(_: &str) {
    panic!("--bug needs the explorer built with --features bugs");
}

#[cfg(not(madsim))]
fn main() {
    eprintln!("build the explorer under the simulator: RUSTFLAGS=\"--cfg madsim\" CARGO_TARGET_DIR=target/sim cargo run --profile sim -p oxcd-sim --bin explore");
    std::process::exit(2);
}
