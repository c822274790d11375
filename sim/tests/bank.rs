//! The bank workload on 3 members under random faults: every read sees all
//! accounts and the initial total, revisions never go backwards, the history
//! is linearizable, then a liveness phase and replica agreement (see
//! `oxcd_sim::scenario::bank_3_members`).
#![cfg(madsim)]

#[madsim::test]
async fn bank_three_members() {
    match oxcd_sim::scenario::bank_3_members().await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}
