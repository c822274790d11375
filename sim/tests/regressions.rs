//! Replays every seed in `sim/regressions/seeds.txt`: once a seed has found a
//! bug, it runs in every test pass from then on.
#![cfg(madsim)]

#[test]
fn past_failing_seeds_pass() {
    let text = include_str!("../regressions/seeds.txt");
    let mut replayed = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, seed) = line.split_once(' ').expect("`<scenario> <seed>`");
        let seed: u64 = seed.trim().parse().expect("a numeric seed");
        if let Err(why) = oxcd_sim::scenario::run_seed(name, seed) {
            panic!("regression {name} {seed} fails again: {why}");
        }
        replayed += 1;
    }
    println!("replayed {replayed} regression seeds");
}
