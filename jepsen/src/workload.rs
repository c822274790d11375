//! The workloads, through a real gRPC client: `oxcd-checker`'s clients and
//! checkers, the same code the simulator runs, here on real tokio sockets.

use std::time::Duration;

use madsim::time::Instant;
use oxcd_checker::checker::bank::{self as check_bank, Bank};
use oxcd_checker::checker::kv::{describe, KvOp};
use oxcd_checker::checker::linearizability::{self, Verdict};
use oxcd_checker::checker::revisions;
use oxcd_checker::model::Response;
use oxcd_checker::workload::bank::{BankClient, SharedHistory as BankHistory};
use oxcd_checker::workload::register::RegisterClient;
use oxcd_checker::workload::PROBE_CLIENT;

/// Keys of the register workload.
const REGISTER_KEYS: usize = 5;
/// Bank accounts, and each one's initial balance.
const ACCOUNTS: usize = 5;
const BALANCE: i64 = 100;
/// Linearizability search budget (steps); running out is a checker defect.
const STEP_BUDGET: u64 = 50_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A definite "no": a failed compare, or an error the server answered.
    Fail,
    /// The client never learned (timeout, connection lost).
    Unknown,
}

/// One operation, for the history file and the pictures; times in
/// microseconds on the run's axis.
pub struct Row {
    pub client: usize,
    pub call: u64,
    pub ret: Option<u64>,
    pub what: String,
    pub outcome: Outcome,
}

/// What a workload leaves: its operations, and the checker's verdict (a
/// summary when valid, the violation otherwise).
pub struct Checked {
    pub rows: Vec<Row>,
    pub verdict: Result<String, String>,
    /// Whether the workload's own clients (not the probe) had an operation
    /// succeed: a run where none did checked nothing.
    pub exercised: bool,
    /// Names of the timeline's lanes by `Row::client`, where a lane is not
    /// a client (empty: "client N").
    pub lanes: Vec<&'static str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Register,
    Bank,
    Lock,
    Watch,
    Lease,
}

impl Workload {
    pub fn parse(s: &str) -> Result<Workload, String> {
        match s {
            "register" => Ok(Workload::Register),
            "bank" => Ok(Workload::Bank),
            "lock" => Ok(Workload::Lock),
            "watch" => Ok(Workload::Watch),
            "lease" => Ok(Workload::Lease),
            other => Err(format!(
                "unknown workload {other:?} (register, bank, lock, watch, lease)"
            )),
        }
    }

    /// Server flags the workload needs (the same for etcd and oxcd).
    pub fn server_flags(self) -> &'static [&'static str] {
        match self {
            // The watch checker also checks periodic progress notifications.
            Workload::Watch => &["--experimental-watch-progress-notify-interval=700ms"],
            _ => &[],
        }
    }
}

/// How the clients run: how many, how long, how fast.
#[derive(Clone)]
pub struct Plan {
    pub urls: Vec<String>,
    pub clients: usize,
    /// Each client's pause between operations.
    pub interval: Duration,
    /// When clients stop (on `oxcd_checker::clock::now`'s axis).
    pub until: Duration,
    /// The history's time zero.
    pub start: Instant,
}

/// Clients run until `plan.until`; returns once all stopped.
async fn each_client<F, Fut>(plan: &Plan, client: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let tasks: Vec<_> = (0..plan.clients)
        .map(|id| tokio::spawn(client(id)))
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

pub mod register {
    use super::*;

    pub type History = oxcd_checker::workload::register::SharedHistory;

    pub async fn run(plan: &Plan) -> History {
        let history = History::default();
        each_client(plan, |id| {
            let mut c = RegisterClient::new(
                id,
                plan.urls.clone(),
                REGISTER_KEYS,
                plan.start,
                history.clone(),
            );
            let (until, interval) = (plan.until, plan.interval);
            async move {
                while oxcd_checker::clock::now() < until {
                    c.one().await;
                    tokio::time::sleep(interval).await;
                }
            }
        })
        .await;
        history
    }

    /// After healing: a fresh client's operations; how many completed.
    pub async fn probe(plan: &Plan, history: &History) -> usize {
        oxcd_checker::workload::register::probe(
            plan.urls.clone(),
            REGISTER_KEYS,
            plan.start,
            history.clone(),
        )
        .await
    }

    pub fn check(history: &History) -> Checked {
        let h = history.lock().expect("lock");
        let rows = h.iter().map(row).collect();
        let exercised = h
            .iter()
            .any(|o| o.client != PROBE_CLIENT && matches!(o.out, Some(Ok(_))));
        let verdict = oxcd_checker::checker::kv::decide(&h, STEP_BUDGET).map(|d| {
            format!(
                "{} revisions ({} written by answers lost)",
                d.revisions, d.filled
            )
        });
        Checked {
            rows,
            verdict,
            exercised,
            lanes: Vec::new(),
        }
    }

    fn row(o: &KvOp) -> Row {
        let outcome = match &o.out {
            None => Outcome::Unknown,
            Some(Err(_)) => Outcome::Fail,
            Some(Ok(Response::Txn(t))) if !t.succeeded => Outcome::Fail,
            Some(Ok(_)) => Outcome::Ok,
        };
        Row {
            client: o.client,
            call: o.call,
            ret: o.ret,
            what: format!("{} -> {}", describe(&o.req), show(&o.out)),
            outcome,
        }
    }

    fn show(out: &Option<Result<Response, oxcd_checker::model::KvError>>) -> String {
        match out {
            None => "?".into(),
            Some(Err(e)) => format!("{e:?}"),
            Some(Ok(Response::Range(r))) => {
                let vals: Vec<String> = r
                    .kvs
                    .iter()
                    .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
                    .collect();
                format!("[{}] @{}", vals.join(","), header_rev(&r.header))
            }
            Some(Ok(Response::Put(p))) => format!("ok @{}", header_rev(&p.header)),
            Some(Ok(Response::Txn(t))) => {
                format!("{} @{}", t.succeeded, header_rev(&t.header))
            }
            Some(Ok(r)) => format!("{r:?}"),
        }
    }

    fn header_rev(h: &Option<oxcd::pb::etcdserverpb::ResponseHeader>) -> i64 {
        h.as_ref().map_or(0, |h| h.revision)
    }
}

pub mod bank {
    use super::*;

    pub type History = BankHistory;

    /// Writes the initial balances (retrying until a member answers, at
    /// most `within`), then runs the clients.
    pub async fn run(plan: &Plan, within: Duration) -> Result<History, String> {
        let history = History::default();
        let mut c = BankClient::new(
            plan.clients,
            plan.urls.clone(),
            ACCOUNTS,
            plan.start,
            history.clone(),
        );
        let init = async {
            while !c.init(&[BALANCE; ACCOUNTS]).await {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        tokio::time::timeout(within, init)
            .await
            .map_err(|_| format!("bank: no member took the initial balances in {within:?}"))?;
        each_client(plan, |id| {
            let mut c =
                BankClient::new(id, plan.urls.clone(), ACCOUNTS, plan.start, history.clone());
            let (until, interval) = (plan.until, plan.interval);
            async move {
                while oxcd_checker::clock::now() < until {
                    c.one().await;
                    tokio::time::sleep(interval).await;
                }
            }
        })
        .await;
        Ok(history)
    }

    pub async fn probe(plan: &Plan, history: &History) -> usize {
        oxcd_checker::workload::bank::probe(
            plan.urls.clone(),
            ACCOUNTS,
            plan.start,
            history.clone(),
        )
        .await
    }

    pub fn check(history: &History) -> Checked {
        let h = history.lock().expect("lock");
        let rows = h
            .ops
            .iter()
            .map(|o| Row {
                client: o.client,
                call: o.call,
                ret: o.ret,
                what: format!("{:?} -> {:?}", o.input, o.output),
                outcome: match &o.output {
                    None => Outcome::Unknown,
                    Some(check_bank::Output::Transfer {
                        succeeded: false, ..
                    }) => Outcome::Fail,
                    Some(_) => Outcome::Ok,
                },
            })
            .collect();
        let exercised = h.ops.iter().any(|o| {
            o.client < PROBE_CLIENT
                && matches!(
                    o.output,
                    Some(check_bank::Output::Transfer {
                        succeeded: true,
                        ..
                    })
                )
        });
        let verdict = (|| {
            check_bank::check_reads(&h.ops, ACCOUNTS, BALANCE * ACCOUNTS as i64)?;
            revisions::check(&h.revisions).map_err(|(a, b)| {
                format!(
                    "client {} saw revision {} after {}",
                    b.client, b.revision, a.revision
                )
            })?;
            match linearizability::check::<Bank>(&h.ops, STEP_BUDGET) {
                Verdict::Ok => Ok(format!(
                    "{ACCOUNTS} accounts, total {}",
                    BALANCE * ACCOUNTS as i64
                )),
                Verdict::Unknown => Err("the linearizability search ran out of budget".into()),
                Verdict::Illegal(ops) => Err(format!(
                    "not linearizable; offending operations:\n{}",
                    ops.iter()
                        .take(20)
                        .map(|&i| format!(
                            "  op {i}: {:?} -> {:?}",
                            h.ops[i].input, h.ops[i].output
                        ))
                        .collect::<Vec<_>>()
                        .join("\n")
                )),
            }
        })();
        Checked {
            rows,
            verdict,
            exercised,
            lanes: Vec::new(),
        }
    }
}

pub mod lock {
    use super::*;
    use oxcd_checker::workload::lock::{acquire_once, Event, LockWorkloadClient, SharedEvents};

    /// One hold in six stalls past its lease (a process pause).
    const STALL_ONE_IN: u32 = 6;

    pub async fn run(plan: &Plan) -> SharedEvents {
        let events = SharedEvents::default();
        each_client(plan, |id| {
            let mut c =
                LockWorkloadClient::new(id, plan.urls.clone(), events.clone(), STALL_ONE_IN);
            let until = plan.until;
            async move {
                while oxcd_checker::clock::now() < until {
                    c.run(1).await;
                }
            }
        })
        .await;
        events
    }

    /// After healing, a new client holds the lock within 20 s (every
    /// abandoned key's lease has expired by then).
    pub async fn probe(plan: &Plan) -> usize {
        usize::from(
            acquire_once(plan.urls.clone(), Duration::from_secs(20))
                .await
                .is_ok(),
        )
    }

    pub fn check(events: &SharedEvents, offset: Duration) -> Checked {
        let ev = events.lock().expect("lock");
        let us = |at: Duration| at.saturating_sub(offset).as_micros() as u64;
        // Each hold is a bar from Lock's answer to its release.
        let mut rows = Vec::new();
        for e in ev.iter() {
            let Event::Acquired {
                client,
                generation,
                at,
            } = e
            else {
                continue;
            };
            let released = ev.iter().find_map(|r| match r {
                Event::Released {
                    client: c,
                    generation: g,
                    at,
                } if c == client && g == generation => Some(*at),
                _ => None,
            });
            rows.push(Row {
                client: *client,
                call: us(*at),
                ret: released.map(us),
                what: format!("holds the lock, generation {generation}"),
                outcome: if released.is_some() {
                    Outcome::Ok
                } else {
                    Outcome::Unknown
                },
            });
        }
        let verdict = oxcd_checker::checker::lock::check(&ev);
        let exercised = verdict
            .as_ref()
            .is_ok_and(|r| r.holds > 0 && r.fenced_ops > 0);
        Checked {
            rows,
            verdict: verdict.map(|r| r.to_string()),
            exercised,
            lanes: Vec::new(),
        }
    }
}

pub mod watch {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    use oxcd_checker::workload::watch::{watcher, writer, SharedLog};

    const WATCHERS: usize = 3;
    /// Once healed, every watcher has every write within this long.
    const CATCH_UP: Duration = Duration::from_secs(60);

    pub struct Run {
        log: SharedLog,
        caught_up: bool,
    }

    /// Writers write until `plan.until` (each one long writer task,
    /// stopped then: values stay unique); watchers watch everything from
    /// revision 1 and must reach the last acknowledged write within
    /// [`CATCH_UP`] once the writers stop.
    pub async fn run(plan: &Plan) -> Run {
        let log = SharedLog::default();
        let target = Arc::new(AtomicI64::new(i64::MAX));
        let watchers: Vec<_> = (0..WATCHERS)
            .map(|id| {
                let (u, l, t) = (plan.urls.clone(), log.clone(), target.clone());
                tokio::spawn(async move {
                    watcher(id, u, l, move |last| last >= t.load(Ordering::Relaxed)).await
                })
            })
            .collect();
        let writers: Vec<_> = (0..plan.clients)
            .map(|id| tokio::spawn(writer(id, plan.urls.clone(), log.clone(), usize::MAX)))
            .collect();
        tokio::time::sleep(plan.until.saturating_sub(oxcd_checker::clock::now())).await;
        for w in writers {
            w.abort();
        }
        let last = log.lock().expect("lock").last_revision();
        target.store(last, Ordering::Relaxed);
        let mut caught_up = true;
        for w in watchers {
            caught_up &= tokio::time::timeout(CATCH_UP, w).await.is_ok();
        }
        Run { log, caught_up }
    }

    pub fn check(run: &Run) -> Checked {
        let log = run.log.lock().expect("lock");
        let verdict = if run.caught_up {
            oxcd_checker::checker::watch::check(&log.writes, &log.received, WATCHERS).map(|n| {
                format!(
                    "{} writes, {n} events checked, {} responses",
                    log.writes.len(),
                    log.received.len()
                )
            })
        } else {
            Err(format!(
                "a watcher did not reach the last write within {CATCH_UP:?} of the writers stopping"
            ))
        };
        // The writes have no call times to draw; the counts are the record.
        Checked {
            rows: Vec::new(),
            verdict,
            exercised: !log.writes.is_empty() && !log.received.is_empty(),
            lanes: Vec::new(),
        }
    }
}

pub mod lease {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use oxcd_checker::workload::lease::{
        all_expire, observe, Event, LeaseWorkloadClient, SharedEvents,
    };

    /// Once healed and every client stopped, every lease key is gone within
    /// this long (TTLs are at most 4 s; an election and the revokes' commits).
    const EXPIRY_BOUND: Duration = Duration::from_secs(15);

    pub struct Run {
        events: SharedEvents,
        /// Keys still there [`EXPIRY_BOUND`] after the clients stopped.
        left: Vec<(String, i64)>,
    }

    /// Clients grant leases, put keys with them, keep them alive, revoke or
    /// abandon them; an observer reads every lease key every 150 ms.
    pub async fn run(plan: &Plan) -> Run {
        let events = SharedEvents::default();
        let stop = Arc::new(AtomicBool::new(false));
        let observer = tokio::spawn(observe(
            plan.urls.clone(),
            events.clone(),
            Duration::from_millis(150),
            stop.clone(),
        ));
        each_client(plan, |id| {
            let mut c = LeaseWorkloadClient::new(id, plan.urls.clone(), events.clone());
            let until = plan.until;
            async move { c.run_until(until).await }
        })
        .await;
        let left = all_expire(plan.urls.clone(), events.clone(), EXPIRY_BOUND).await;
        stop.store(true, Ordering::Relaxed);
        let _ = observer.await;
        Run { events, left }
    }

    const LANES: [&str; 5] = ["grant", "put", "keep-alive", "revoke", "read"];

    pub fn check(run: &Run, offset: Duration) -> Checked {
        let ev = run.events.lock().expect("lock");
        let us = |at: Duration| at.saturating_sub(offset).as_micros() as u64;
        let rows = ev
            .iter()
            .map(|e| {
                let (lane, from, to, what, outcome) = match e {
                    Event::Granted {
                        id,
                        ttl,
                        sent,
                        acked,
                    } => (
                        0,
                        *sent,
                        Some(*acked),
                        format!("grant {id:x} ttl {ttl}"),
                        Outcome::Ok,
                    ),
                    Event::Put { id, key, acked } => (
                        1,
                        *acked,
                        Some(*acked),
                        format!("put {key} lease {id:x}"),
                        Outcome::Ok,
                    ),
                    Event::KeptAlive {
                        id,
                        ttl,
                        sent,
                        acked,
                    } => (
                        2,
                        *sent,
                        Some(*acked),
                        format!("keep-alive {id:x} -> ttl {ttl}"),
                        if *ttl > 0 { Outcome::Ok } else { Outcome::Fail },
                    ),
                    Event::Revoked { id, sent, acked } => (
                        3,
                        *sent,
                        *acked,
                        format!("revoke {id:x}"),
                        if acked.is_some() {
                            Outcome::Ok
                        } else {
                            Outcome::Unknown
                        },
                    ),
                    Event::Read { sent, acked, keys } => (
                        4,
                        *sent,
                        Some(*acked),
                        format!("read: {} keys", keys.len()),
                        Outcome::Ok,
                    ),
                };
                Row {
                    client: lane,
                    call: us(from),
                    ret: to.map(us),
                    what,
                    outcome,
                }
            })
            .collect();
        // No clock faults here: every clock runs at real speed.
        let verdict = oxcd_checker::checker::lease::check(&ev, &[]).and_then(|reads| {
            if run.left.is_empty() {
                Ok(format!("{reads} reads checked"))
            } else {
                Err(format!(
                    "{} lease keys still there {EXPIRY_BOUND:?} after every client stopped: {:?}",
                    run.left.len(),
                    run.left
                ))
            }
        });
        let exercised = ev
            .iter()
            .any(|e| matches!(e, Event::KeptAlive { ttl, .. } if *ttl > 0));
        Checked {
            rows,
            verdict,
            exercised,
            lanes: LANES.to_vec(),
        }
    }
}

/// The workloads' histories behind one type.
pub enum History {
    Register(register::History),
    Bank(bank::History),
    Lock(oxcd_checker::workload::lock::SharedEvents),
    Watch(watch::Run),
    Lease(lease::Run),
}

impl History {
    /// After healing: how many of a fresh client's operations completed.
    pub async fn probe(&self, plan: &Plan) -> usize {
        match self {
            History::Register(h) => register::probe(plan, h).await,
            History::Bank(h) => bank::probe(plan, h).await,
            History::Lock(_) => lock::probe(plan).await,
            // The watchers' catching up is the watch run's liveness, every
            // key's expiry the lease run's.
            History::Watch(_) | History::Lease(_) => 1,
        }
    }

    /// `offset`: where the history's zero sits on the clock's axis.
    pub fn check(&self, offset: Duration) -> Checked {
        match self {
            History::Register(h) => register::check(h),
            History::Bank(h) => bank::check(h),
            History::Lock(e) => lock::check(e, offset),
            History::Watch(r) => watch::check(r),
            History::Lease(r) => lease::check(r, offset),
        }
    }
}

/// Runs `w` under `plan`.
pub async fn run(w: Workload, plan: &Plan) -> Result<History, String> {
    Ok(match w {
        Workload::Register => History::Register(register::run(plan).await),
        Workload::Bank => History::Bank(bank::run(plan, Duration::from_secs(30)).await?),
        Workload::Lock => History::Lock(lock::run(plan).await),
        Workload::Watch => History::Watch(watch::run(plan).await),
        Workload::Lease => History::Lease(lease::run(plan).await),
    })
}
