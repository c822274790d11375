//! Multi-member scenarios: the register workload on 3 and 5 members under
//! crashes, partitions and pauses, checked for linearizability and
//! revision monotonicity, then a liveness phase.
#![cfg(madsim)]

#[madsim::test]
async fn register_three_members() {
    match oxcd_sim::scenario::register_in_cluster(3).await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}

#[madsim::test]
async fn register_five_members() {
    match oxcd_sim::scenario::register_in_cluster(5).await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}

#[madsim::test]
async fn register_with_snapshots() {
    match oxcd_sim::membership::register_with_snapshots().await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}

#[madsim::test]
async fn membership_changes_under_load() {
    match oxcd_sim::membership::membership_under_load().await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}
