use super::*;

fn member(id: u64, url: &str, learner: bool, name: &str) -> Member {
    Member {
        id,
        name: name.into(),
        peer_ur_ls: vec![url.into()],
        client_ur_ls: vec![],
        is_learner: learner,
    }
}

fn cluster(ms: &[Member]) -> RaftCluster {
    let mut c = RaftCluster::default();
    for m in ms {
        let change = if m.is_learner {
            MemberChange::AddLearner
        } else {
            MemberChange::AddVoter
        };
        c.validate_change(change, m).unwrap();
        c.apply_change(change, m);
        if !m.name.is_empty() {
            c.set_attributes(m.id, &m.name, &[]);
        }
    }
    c
}

#[test]
fn member_urls_are_checked_like_etcd() {
    assert!(check_urls(&["http://10.0.0.1:2380".into()]).is_ok());
    assert!(check_urls(&["10.0.0.1:2380".into()]).is_err());
    assert!(check_urls(&["http://10.0.0.1".into()]).is_err());
    assert!(check_urls(&["http://10.0.0.1:2380/x".into()]).is_err());
    assert!(check_urls(&[]).is_err());
}

#[test]
fn ids_match_etcd_defaults() {
    // etcd with no flags: member 8e9e05c52164694d in cluster cdf818194e3a8c32.
    let id = compute_member_id(&["http://localhost:2380".to_string()], "etcd-cluster");
    assert_eq!(format!("{id:x}"), "8e9e05c52164694d");
    assert_eq!(
        format!("{:x}", compute_cluster_id(&[id])),
        "cdf818194e3a8c32"
    );
}

#[test]
fn changes_are_validated_like_etcd() {
    let mut c = cluster(&[member(1, "http://a:1", false, "a")]);
    let dup = member(2, "http://a:1", false, "");
    assert_eq!(
        c.validate_change(MemberChange::AddVoter, &dup),
        Err(MemberError::PeerUrlExists)
    );
    let l = member(3, "http://c:1", true, "");
    c.validate_change(MemberChange::AddLearner, &l).unwrap();
    c.apply_change(MemberChange::AddLearner, &l);
    let l2 = member(4, "http://d:1", true, "");
    assert_eq!(
        c.validate_change(MemberChange::AddLearner, &l2),
        Err(MemberError::TooManyLearners)
    );
    // Adding a learner as a voter promotes it; a voter cannot be promoted.
    c.validate_change(MemberChange::AddVoter, &l).unwrap();
    assert_eq!(c.apply_change(MemberChange::AddVoter, &l), {
        let mut p = l.clone();
        p.is_learner = false;
        BackendOp::SetMember(p)
    });
    assert_eq!(
        c.validate_change(MemberChange::AddVoter, &l),
        Err(MemberError::NotLearner)
    );
    assert_eq!(
        c.validate_change(MemberChange::Remove, &member(9, "", false, "")),
        Err(MemberError::NotFound)
    );
    assert_eq!(
        c.apply_change(MemberChange::Remove, &l),
        BackendOp::DeleteMember(3)
    );
    assert!(c.is_removed(3));
    assert!(c.set_attributes(3, "late", &[]).is_none());
}

#[test]
fn quorum_checks_count_started_and_reachable_voters() {
    // One started member may add a second.
    let c = cluster(&[member(1, "http://a:1", false, "a")]);
    assert!(c.ready_to_add_voter());
    // Two voters, one started: a third would leave 1 of 3 started.
    let c = cluster(&[
        member(1, "http://a:1", false, "a"),
        member(2, "http://b:1", false, ""),
    ]);
    assert!(!c.ready_to_add_voter());
    let c = cluster(&[
        member(1, "http://a:1", false, "a"),
        member(2, "http://b:1", false, "b"),
        member(3, "http://c:1", false, "c"),
    ]);
    assert!(c.check_remove(3, 1, |_| true).is_ok());
    // With 2 of 3 reachable, removing a reachable one leaves 1 of 2.
    assert_eq!(
        c.check_remove(2, 1, |id| id != 3),
        Err(MemberError::NotEnoughStarted)
    );
    // Removing the unreachable one is safe.
    assert!(c.check_remove(3, 1, |id| id != 3).is_ok());
}

#[test]
fn the_cluster_version_is_set_once() {
    let mut c = RaftCluster::default();
    assert_eq!(
        c.set_version("3.4.0"),
        Some(BackendOp::SetClusterVersion("3.4.0".into()))
    );
    assert_eq!(c.set_version("3.4.0"), None);
    assert_eq!(c.version(), Some("3.4.0"));
    assert_eq!(major_minor("3.4.0"), "3.4");
}

#[test]
fn a_removed_id_never_comes_back() {
    let mut c = cluster(&[
        member(1, "http://a:1", false, "a"),
        member(2, "http://b:1", false, "b"),
    ]);
    let b = member(2, "http://b:1", false, "");
    c.validate_change(MemberChange::Remove, &b).unwrap();
    c.apply_change(MemberChange::Remove, &b);
    assert!(c.is_removed(2));
    for change in [
        MemberChange::Remove,
        MemberChange::AddVoter,
        MemberChange::AddLearner,
    ] {
        assert_eq!(
            c.validate_change(change, &b),
            Err(MemberError::NotFound),
            "{change:?}"
        );
    }
}
