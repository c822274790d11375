//! With `Bug::AckBeforeFsync` switched on, the simulator must fail within its seed
//! budget (one process per bug: the switch is process-wide).
#![cfg(all(madsim, feature = "bugs"))]

#[test]
fn caught() {
    oxcd_sim::bug_hunt::expect_caught(
        oxcd::bugs::Bug::AckBeforeFsync,
        oxcd_sim::scenario::acked_puts_survive_crashes,
    );
}
