//! The bank workload (Jepsen's bank test): a few accounts, one key each,
//! with balances written once; clients read all accounts with one Range and
//! move money between two accounts with one Txn, guarded by the
//! `mod_revision`s they read. Every operation is recorded with its outcome —
//! ok, failed, or unknown (the client never learned) — for the bank checker
//! (`checker::bank`) and the revision checker.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use madsim::time::Instant;
use oxcd::pb::etcdserverpb::{
    compare, kv_client::KvClient, request_op, Compare, PutRequest, RangeRequest, RequestOp,
    TxnRequest,
};
use rand::Rng;
use tonic::transport::Channel;

use crate::checker::bank::{Account, Input, Output};
use crate::workload::{Conn, REQUEST_TIMEOUT};

/// Every account key starts with this.
pub const PREFIX: &str = "bank/";

/// The key of account `i`.
pub fn account_key(i: usize) -> Vec<u8> {
    format!("{PREFIX}{i}").into_bytes()
}

/// A recorded bank history.
pub type History = super::History<Input, Output>;
/// Shared between client tasks.
pub type SharedHistory = Arc<Mutex<History>>;

pub struct BankClient {
    pub id: usize,
    conn: Conn,
    pub accounts: usize,
    pub start: Instant,
    pub history: SharedHistory,
    /// The accounts as this client last read them (what its transfers
    /// expect); `None` after a transfer that may have changed them.
    last: Option<Vec<Account>>,
}

impl BankClient {
    pub fn new(
        id: usize,
        urls: Vec<String>,
        accounts: usize,
        start: Instant,
        history: SharedHistory,
    ) -> Self {
        BankClient {
            id,
            conn: Conn::new(id, urls),
            accounts,
            start,
            history,
            last: None,
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Writes the initial balances, once: a Txn guarded by account 0 not
    /// existing yet, retried until some member answers; then records it as
    /// the history's first operation. Returns whether it was written.
    pub async fn init(&mut self, balances: &[i64]) -> bool {
        assert_eq!(balances.len(), self.accounts, "one balance per account");
        let puts = balances
            .iter()
            .enumerate()
            .map(|(i, b)| put(i, *b))
            .collect();
        let txn = TxnRequest {
            compare: vec![Compare {
                result: compare::CompareResult::Equal as i32,
                target: compare::CompareTarget::Version as i32,
                key: account_key(0),
                target_union: Some(compare::TargetUnion::Version(0)),
                range_end: vec![],
            }],
            success: puts,
            failure: vec![],
        };
        let call = self.now();
        let Some(mut kv) = self.conn.kv().await else {
            return false;
        };
        if tokio::time::timeout(REQUEST_TIMEOUT, kv.txn(txn))
            .await
            .map_or(true, |r| r.is_err())
        {
            self.conn.next();
        }
        // Whichever attempt wrote them, a read tells at which revision.
        let Some(Ok((Output::Read { accounts, .. }, _))) = self.read().await else {
            return false;
        };
        if accounts.len() != self.accounts {
            return false;
        }
        let input = Input::Init {
            balances: accounts.values().map(|a| a.balance).collect(),
        };
        let output = Output::Init {
            rev: accounts[&0].mod_rev,
        };
        let ret = self.now();
        let mut h = self.history.lock().expect("history lock");
        h.record(self.id, (call, ret), input, Some(output), None);
        true
    }

    /// Runs `n` random operations.
    pub async fn run(&mut self, n: usize) {
        for _ in 0..n {
            self.one().await;
        }
    }

    /// One operation, recorded: a transfer if the client knows the balances
    /// and the dice say so, otherwise a read of all accounts.
    pub async fn one(&mut self) {
        let input = {
            let mut rng = crate::clock::rng();
            match &self.last {
                Some(last) if self.accounts >= 2 && rng.gen_range(0..10) < 6 => {
                    let from = rng.gen_range(0..self.accounts);
                    let to = (from + rng.gen_range(1..self.accounts)) % self.accounts;
                    let (f, t) = (last[from], last[to]);
                    let amount = rng.gen_range(0..=f.balance.clamp(0, 20));
                    Input::Transfer {
                        from,
                        to,
                        from_rev: f.mod_rev,
                        to_rev: t.mod_rev,
                        from_balance: f.balance - amount,
                        to_balance: t.balance + amount,
                    }
                }
                _ => Input::Read,
            }
        };
        let call = self.now();
        let res = match &input {
            Input::Read => self.read().await,
            _ => self.transfer(&input).await,
        };
        let Some(res) = res else {
            return; // not even connected: nothing was sent
        };
        let ret = self.now();
        let (output, revision) = match res {
            Ok((o, rev)) => (Some(o), Some(rev)),
            Err(()) => (None, None),
        };
        self.last = match &output {
            Some(Output::Read { accounts, .. }) if accounts.len() == self.accounts => {
                Some(accounts.values().copied().collect())
            }
            _ => None, // read again before the next transfer
        };
        if output.is_none() && input == Input::Read {
            return; // a failed read constrains nothing
        }
        let mut h = self.history.lock().expect("history lock");
        h.record(self.id, (call, ret), input, output, revision);
    }

    /// Sends `req` on the current connection: `None` if not connected,
    /// `Some(Err)` if the outcome is unknown (then moves to the next member).
    async fn send<Fut>(
        &mut self,
        req: impl FnOnce(KvClient<Channel>) -> Fut,
    ) -> Option<Result<(Output, i64), ()>>
    where
        Fut: std::future::Future<Output = Result<(Output, i64), tonic::Status>>,
    {
        let kv = self.conn.kv().await?;
        match tokio::time::timeout(REQUEST_TIMEOUT, req(kv)).await {
            Ok(Ok(r)) => Some(Ok(r)),
            _ => {
                self.conn.next();
                Some(Err(()))
            }
        }
    }

    async fn read(&mut self) -> Option<Result<(Output, i64), ()>> {
        self.send(|mut kv| async move {
            let mut range_end = PREFIX.as_bytes().to_vec();
            *range_end.last_mut().expect("non-empty prefix") += 1;
            let r = kv
                .range(RangeRequest {
                    key: PREFIX.as_bytes().to_vec(),
                    range_end,
                    ..Default::default()
                })
                .await?
                .into_inner();
            let rev = r.header.map_or(0, |h| h.revision);
            let accounts: BTreeMap<usize, Account> = r
                .kvs
                .iter()
                .map(|kv| {
                    let name = String::from_utf8_lossy(&kv.key[PREFIX.len()..]).into_owned();
                    let balance = String::from_utf8_lossy(&kv.value);
                    (
                        name.parse().unwrap_or(usize::MAX),
                        Account {
                            // Garbage reads as a negative balance, which the checker rejects.
                            balance: balance.parse().unwrap_or(i64::MIN),
                            mod_rev: kv.mod_revision,
                        },
                    )
                })
                .collect();
            Ok((Output::Read { accounts, rev }, rev))
        })
        .await
    }

    async fn transfer(&mut self, input: &Input) -> Option<Result<(Output, i64), ()>> {
        let Input::Transfer {
            from,
            to,
            from_rev,
            to_rev,
            from_balance,
            to_balance,
        } = *input
        else {
            unreachable!("transfer() gets a transfer");
        };
        let unchanged = |i: usize, rev: i64| Compare {
            result: compare::CompareResult::Equal as i32,
            target: compare::CompareTarget::Mod as i32,
            key: account_key(i),
            target_union: Some(compare::TargetUnion::ModRevision(rev)),
            range_end: vec![],
        };
        let txn = TxnRequest {
            compare: vec![unchanged(from, from_rev), unchanged(to, to_rev)],
            success: vec![put(from, from_balance), put(to, to_balance)],
            failure: vec![],
        };
        self.send(|mut kv| async move {
            let r = kv.txn(txn).await?.into_inner();
            let rev = r.header.map_or(0, |h| h.revision);
            Ok((
                Output::Transfer {
                    succeeded: r.succeeded,
                    rev,
                },
                rev,
            ))
        })
        .await
    }
}

fn put(account: usize, balance: i64) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: account_key(account),
            value: balance.to_string().into_bytes(),
            ..Default::default()
        })),
    }
}

/// The liveness probe after healing: a fresh client's reads and transfers,
/// recorded in `history`; how many got an answer.
pub async fn probe(
    urls: Vec<String>,
    accounts: usize,
    start: Instant,
    history: SharedHistory,
) -> usize {
    let before = history.lock().expect("lock").ops.len();
    let mut c = BankClient::new(super::PROBE_CLIENT, urls, accounts, start, history.clone());
    for _ in 0..super::PROBE_OPS {
        c.one().await;
    }
    let h = history.lock().expect("lock");
    h.ops[before..]
        .iter()
        .filter(|o| o.output.is_some())
        .count()
}
