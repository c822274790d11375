//! `cargo test --features sim`: re-runs the simulation suite (the `oxcd-sim`
//! crate's tests) under `--cfg madsim` in its own target dir, `target/sim`,
//! because a cargo feature cannot set a rustc cfg for dependencies. Then the
//! bug-finding tests, with oxcd's deliberately wrong behaviours compiled in.
//!
//! Seeds: `MADSIM_TEST_NUM` (default 8 here) seeds starting at
//! `MADSIM_TEST_SEED`; replay one with `MADSIM_TEST_SEED=<seed>
//! MADSIM_TEST_NUM=1 cargo test --features sim`.
//!
//! Profile: cargo test's default; `OXCD_SIM_PROFILE=sim` builds with the `sim`
//! profile (oxcd and the simulator optimised: about 3.5x the simulated
//! seconds per wall second, for about a minute more compiling per build),
//! which pays off for many seeds, not for CI's eight.

use std::process::Command;

/// The bug-finding test binaries (sim/tests/bug_*.rs).
const BUG_TESTS: &[&str] = &[
    "bug_ack_before_fsync",
    "bug_forget_consistent_index",
    "bug_stale_txn_compare",
    "bug_stale_txn_compare_bank",
    "bug_compaction_removes_live_version",
    "bug_inverted_compare",
    "bug_wrong_prev_kv",
    "bug_delete_range_off_by_one",
    "bug_send_before_fsync",
    "bug_skip_read_index",
    "bug_version_not_reset",
    "bug_lease_renew_ignored",
    "bug_watch_sync_off_by_one",
    "bug_lock_waits_only_predecessor",
    "bug_progress_before_sync",
    "bug_stale_perm_cache",
];

fn cargo(root: &str, extra: &[&str]) -> i32 {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args(["test", "-p", "oxcd-sim"]);
    if let Ok(profile) = std::env::var("OXCD_SIM_PROFILE") {
        cmd.args(["--profile", &profile]);
    }
    cmd.args(extra)
        .env("RUSTFLAGS", "--cfg madsim")
        .env("CARGO_TARGET_DIR", format!("{root}/target/sim"))
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("CARGO_PKG_NAME")
        .env_remove("CARGO_PRIMARY_PACKAGE");
    if std::env::var_os("MADSIM_TEST_NUM").is_none() {
        cmd.env("MADSIM_TEST_NUM", "8");
    }
    let status = cmd.status().expect("run cargo for the simulation suite");
    status.code().unwrap_or(1)
}

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    // oxcd-checker's unit tests (model, checkers) run under madsim too.
    let code = cargo(root, &["-p", "oxcd-checker", "--tests"]);
    if code != 0 {
        std::process::exit(code);
    }
    let mut args = vec!["--features", "bugs"];
    for t in BUG_TESTS {
        args.extend(["--test", t]);
    }
    args.extend(["--", "--nocapture"]);
    std::process::exit(cargo(root, &args));
}
