//! The register workload under power cuts, checked for linearizability and
//! revision monotonicity (see `oxcd_sim::scenario::register_under_crashes`).
#![cfg(madsim)]

#[madsim::test]
async fn register_linearizable_under_crashes() {
    match oxcd_sim::scenario::register_under_crashes().await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}
