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

/// Keys of the register workload.
const REGISTER_KEYS: usize = 5;
/// Bank accounts, and each one's initial balance.
const ACCOUNTS: usize = 5;
const BALANCE: i64 = 100;
/// Linearizability search budget (steps); running out is a checker defect.
const STEP_BUDGET: u64 = 50_000_000;
/// The liveness probe's client id, and how many operations it tries.
const PROBE_CLIENT: usize = 1000;
const PROBE_OPS: usize = 20;

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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Register,
    Bank,
}

impl Workload {
    pub fn parse(s: &str) -> Result<Workload, String> {
        match s {
            "register" => Ok(Workload::Register),
            "bank" => Ok(Workload::Bank),
            other => Err(format!("unknown workload {other:?} (register, bank)")),
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
        let before = history.lock().expect("lock").len();
        let mut c = RegisterClient::new(
            PROBE_CLIENT,
            plan.urls.clone(),
            REGISTER_KEYS,
            plan.start,
            history.clone(),
        );
        for _ in 0..PROBE_OPS {
            c.one().await;
        }
        let h = history.lock().expect("lock");
        h[before..].iter().filter(|o| o.out.is_some()).count()
    }

    pub fn check(history: &History) -> Checked {
        let h = history.lock().expect("lock");
        let rows = h.iter().map(row).collect();
        let verdict = oxcd_checker::checker::kv::decide(&h, STEP_BUDGET).map(|d| {
            format!(
                "{} revisions ({} written by answers lost)",
                d.revisions, d.filled
            )
        });
        Checked { rows, verdict }
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
        let before = history.lock().expect("lock").ops.len();
        let mut c = BankClient::new(
            PROBE_CLIENT,
            plan.urls.clone(),
            ACCOUNTS,
            plan.start,
            history.clone(),
        );
        for _ in 0..PROBE_OPS {
            c.one().await;
        }
        let h = history.lock().expect("lock");
        h.ops[before..]
            .iter()
            .filter(|o| o.output.is_some())
            .count()
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
        Checked { rows, verdict }
    }
}

/// Both workloads' histories behind one type.
pub enum History {
    Register(register::History),
    Bank(bank::History),
}

impl History {
    pub async fn probe(&self, plan: &Plan) -> usize {
        match self {
            History::Register(h) => register::probe(plan, h).await,
            History::Bank(h) => bank::probe(plan, h).await,
        }
    }

    pub fn check(&self) -> Checked {
        match self {
            History::Register(h) => register::check(h),
            History::Bank(h) => bank::check(h),
        }
    }
}

/// Runs `w` under `plan`.
pub async fn run(w: Workload, plan: &Plan) -> Result<History, String> {
    Ok(match w {
        Workload::Register => History::Register(register::run(plan).await),
        Workload::Bank => History::Bank(bank::run(plan, Duration::from_secs(30)).await?),
    })
}
