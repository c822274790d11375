//! With `Bug::StaleTxnCompare` switched on, the bank scenario (multi-key
//! transactions guarded by compares) must fail within the seed budget too.
#![cfg(all(madsim, feature = "bugs"))]

#[test]
fn caught_by_the_bank() {
    oxcd_sim::bug_hunt::expect_caught(
        oxcd::bugs::Bug::StaleTxnCompare,
        oxcd_sim::scenario::bank_3_members,
    );
}
