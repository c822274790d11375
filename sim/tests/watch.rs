//! Watches under the random faults: ordered, unique, atomic, reliable and
//! resumable, with correct prev_kv, on every member.
#![cfg(madsim)]

#[madsim::test]
async fn watch_3_members() {
    match oxcd_sim::watch_scenario::watch_3_members().await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}
