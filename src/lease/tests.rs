use std::time::Duration;

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn lessor() -> Lessor {
    Lessor::new(LessorConfig::default())
}

#[test]
fn grant_applies_etcds_rules() {
    let mut le = lessor();
    assert_eq!(le.grant(0, 10, secs(0)), Err(LeaseError::NotFound));
    assert_eq!(
        le.grant(1, MAX_LEASE_TTL + 1, secs(0)),
        Err(LeaseError::TtlTooLarge)
    );
    // Below the minimum TTL (2 s for a 1 s election timeout) it is raised.
    assert_eq!(le.grant(1, 1, secs(0)), Ok((1, 2)));
    assert_eq!(le.grant(1, 10, secs(0)), Err(LeaseError::Exists));
    assert_eq!(le.grant(2, -5, secs(0)), Ok((2, 2)));
    assert_eq!(
        le.take_ops(),
        vec![
            BackendOp::PutLease(leasepb::Lease {
                id: 1,
                ttl: 2,
                remaining_ttl: 0
            }),
            BackendOp::PutLease(leasepb::Lease {
                id: 2,
                ttl: 2,
                remaining_ttl: 0
            }),
        ]
    );
}

#[test]
fn min_ttl_is_etcds_formula() {
    assert_eq!(LessorConfig::min_ttl_for(1000, 100), 2);
    assert_eq!(LessorConfig::min_ttl_for(5000, 500), 8);
    assert_eq!(LessorConfig::min_ttl_for(100, 10), 1);
}

#[test]
fn only_the_primary_expires_and_renews() {
    let mut le = lessor();
    le.grant(7, 5, secs(0)).unwrap();
    assert_eq!(le.expired(secs(1000), 10), Vec::<i64>::new());
    assert_eq!(le.renew(7, secs(0)), Err(RenewError::NotPrimary));
    le.promote(secs(100), secs(1));
    // TTL 5 plus the election-timeout extension.
    assert_eq!(le.expired(secs(105), 10), Vec::<i64>::new());
    assert_eq!(le.expired(secs(106), 10), vec![7]);
    // Handed out again only after the retry interval.
    assert_eq!(le.expired(secs(107), 10), Vec::<i64>::new());
    assert_eq!(le.renew(7, secs(107)), Err(RenewError::Expired));
    assert_eq!(le.expired(secs(109), 10), vec![7]);
    le.demote();
    assert_eq!(le.expired(secs(10_000), 10), Vec::<i64>::new());
}

#[test]
fn renew_pushes_expiry() {
    let mut le = lessor();
    le.promote(secs(0), secs(0));
    le.grant(1, 10, secs(0)).unwrap();
    assert_eq!(le.renew(1, secs(8)), Ok((10, false)));
    assert_eq!(le.expired(secs(17), 10), Vec::<i64>::new());
    assert_eq!(le.expired(secs(18), 10), vec![1]);
    assert_eq!(le.renew(2, secs(8)), Err(RenewError::NotFound));
}

#[test]
fn revoke_returns_keys_sorted_and_forgets_them() {
    let mut le = lessor();
    le.grant(1, 10, secs(0)).unwrap();
    le.grant(2, 10, secs(0)).unwrap();
    le.attach(1, b"b");
    le.attach(1, b"a");
    le.attach(2, b"c");
    // Put again under another lease: moves.
    le.detach(b"c");
    le.attach(1, b"c");
    assert_eq!(le.lease_of(b"c"), Some(1));
    le.take_ops();
    assert_eq!(
        le.revoke(1),
        Ok(vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()])
    );
    assert_eq!(le.lease_of(b"a"), None);
    assert!(le.lookup(2).unwrap().keys.is_empty());
    assert_eq!(le.take_ops(), vec![BackendOp::DeleteLease(1)]);
    assert_eq!(le.revoke(1), Err(LeaseError::NotFound));
    // Attaching to a lease that is gone does nothing.
    le.attach(1, b"z");
    assert_eq!(le.lease_of(b"z"), None);
}

#[test]
fn checkpoints_carry_remaining_ttl_to_the_next_primary() {
    let cfg = LessorConfig {
        checkpoint_interval: Some(secs(5)),
        ..Default::default()
    };
    let mut leader = Lessor::new(cfg);
    leader.promote(secs(0), secs(0));
    leader.grant(1, 60, secs(0)).unwrap();
    assert_eq!(leader.due_checkpoints(secs(4), 10), vec![]);
    assert_eq!(leader.due_checkpoints(secs(5), 10), vec![(1, 55)]);
    // Every member applies it; a new primary starts from 55 s, not 60.
    let mut next = Lessor::new(cfg);
    next.grant(1, 60, secs(0)).unwrap();
    next.checkpoint(1, 55, secs(0));
    next.promote(secs(1000), secs(1));
    assert_eq!(next.expired(secs(1055), 10), Vec::<i64>::new());
    assert_eq!(next.expired(secs(1056), 10), vec![1]);
    // A renew asks for the checkpoint to be cleared.
    assert_eq!(next.renew(1, secs(1050)), Ok((60, true)));
}

#[test]
fn promotion_spreads_a_pile_of_expiries() {
    let mut le = lessor();
    for id in 1..=2000 {
        le.grant(id, 10, secs(0)).unwrap();
    }
    le.promote(secs(0), secs(0));
    // All would expire at 10 s; at most 750 a second may (a lease handed
    // out again after the retry interval counts once).
    let mut seen = std::collections::HashSet::new();
    for s in 10..20 {
        let new = le
            .expired(secs(s), usize::MAX)
            .into_iter()
            .filter(|id| seen.insert(*id))
            .count();
        assert!(new <= 751, "{new} leases expire in second {s}");
    }
    assert_eq!(seen.len(), 2000);
}

#[test]
fn leases_sorted_by_remaining() {
    let mut le = lessor();
    le.promote(secs(0), secs(0));
    le.grant(3, 30, secs(0)).unwrap();
    le.grant(1, 50, secs(0)).unwrap();
    le.grant(2, 10, secs(0)).unwrap();
    assert_eq!(le.leases(secs(1)), vec![2, 3, 1]);
}
