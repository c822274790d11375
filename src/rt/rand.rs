//! Randomness through the runtime seam: madsim's seeded RNG in simulation
//! (so a seed replays exactly), the OS-seeded thread RNG in production.

/// A uniformly random number in `range`.
pub fn gen_range(range: std::ops::Range<u64>) -> u64 {
    use rand::Rng;
    #[allow(clippy::disallowed_methods)] // this is the seam the rule points to
    madsim::rand::thread_rng().gen_range(range)
}
