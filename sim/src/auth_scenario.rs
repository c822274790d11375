//! Auth under faults ([`crate::workload::auth`], checked by
//! [`crate::checker::auth`]).
//!
//! What it can find: a request that went in although a permission it needs
//! was revoked before it was sent and not granted again until it returned
//! (a check against stale permissions: an apply that ignores the header's
//! auth revision, a member serving reads from an auth state that lags, a
//! snapshot or restart that loses a revoke), a request denied although
//! everything it needs was granted, tokens that stop working for good (a
//! restarted member's clients must authenticate again and go on), and a
//! cluster that cannot authenticate once healed. What it cannot: JWT
//! tokens, TLS common names, and management by non-root users (the
//! authorization matrix test covers those against the real etcd).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::checker::auth::check;
use crate::scenario::{clients_under_faults, ClusterRun};
use crate::workload::auth::{setup, AdminClient, SharedEvents, UserClient};

/// Users' requests each, users, permission changes, faults.
const OPS: usize = 40;
const USERS: usize = 3;
const CHANGES: usize = 16;
const FAULTS_MAX: usize = 8;

/// Users read and write while root grants and revokes their role's read
/// and write permissions, on a 3-member cluster under the random faults
/// (partitions, crashes, pauses, clock skew and jumps, slow and failing
/// disks); then every fault is healed and a user must get a token again.
pub async fn auth_3_members() -> Result<String, String> {
    let ClusterRun {
        handle,
        members,
        urls,
        start,
        client_node,
    } = ClusterRun::start_with(3, &["--bcrypt-cost=4"]).await;
    {
        let u = urls.clone();
        client_node
            .spawn(async move { setup(u, USERS).await })
            .await
            .map_err(|e| format!("auth setup: {e}"))??;
    }
    let events = SharedEvents::default();
    let client = |id: usize| -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let (u, e) = (urls.clone(), events.clone());
        if id < USERS {
            let mut c = UserClient::new(id, u, e);
            Box::pin(async move { c.run(OPS).await })
        } else {
            let mut a = AdminClient::new(u, e);
            Box::pin(async move { a.run(CHANGES).await })
        }
    };
    let schedule = (0..USERS + 1, FAULTS_MAX);
    let faults =
        clients_under_faults(&handle, &members, &client_node, schedule, client, || None).await?;
    crate::nemesis::heal_all(&members);
    // Liveness: once healed, a user gets a token and an answer.
    let probe = {
        let (u, e) = (urls.clone(), SharedEvents::default());
        client_node
            .spawn(async move {
                let mut c = UserClient::new(0, u, e.clone());
                let deadline = oxcd_checker::clock::now() + Duration::from_secs(20);
                while e.lock().expect("lock").is_empty() {
                    if oxcd_checker::clock::now() > deadline {
                        return Err("no user request got an answer 20 s after healing".to_string());
                    }
                    c.run(1).await;
                }
                Ok(())
            })
            .await
            .map_err(|e| format!("probe: {e}"))?
    };
    probe?;
    let events = events.lock().expect("lock").clone();
    let report = check(&events)?;
    Ok(format!(
        "auth 3 members: {report}, faults {faults:?}, {:.1} simulated s",
        start.elapsed().as_secs_f64()
    ))
}
