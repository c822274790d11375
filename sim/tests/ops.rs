//! Operations under faults: defragmentation and snapshots during the KV
//! workload on three members, the last snapshot restored into a new member.
#![cfg(madsim)]

#[madsim::test]
async fn ops_3_members() {
    match oxcd_sim::kv_scenario::ops_3_members().await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}
