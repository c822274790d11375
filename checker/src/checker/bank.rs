//! The bank: money moves between accounts and is never created or lost.
//!
//! etcd's API guarantees (etcd.io/docs, "KV API guarantees"): a `Txn` is
//! atomic — all of its operations take effect at one revision or none does —
//! and a `Range` is served from one consistent snapshot at a single revision
//! (the header's). So when every transfer is a Txn that moves an amount
//! between two accounts, guarded by both accounts' `mod_revision`s, every
//! successful read of all accounts must see every account, the initial
//! total, and no negative balance; a torn Txn or a Range that mixes
//! revisions shows up as a wrong total.
//!
//! [`check_reads`] checks that invariant; [`Bank`] is the sequential
//! specification for the linearizability checker (the bank is one object:
//! its history is not split by key, so the scenario keeps it short).

use std::collections::BTreeMap;

use super::linearizability::{Model, Operation};

/// One account as a read saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Account {
    pub balance: i64,
    /// The revision of the write that set this balance.
    pub mod_rev: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// Writes every account's initial balance at once (before any client runs).
    Init { balances: Vec<i64> },
    /// Reads every account with one Range.
    Read,
    /// `txn: if mod_revision(from) == from_rev && mod_revision(to) == to_rev
    /// then put(from, from_balance), put(to, to_balance)`: the balances the
    /// client read, less and plus the amount.
    Transfer {
        from: usize,
        to: usize,
        from_rev: i64,
        to_rev: i64,
        from_balance: i64,
        to_balance: i64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// The revision the initial balances were written at.
    Init { rev: i64 },
    /// The accounts found, by index, and the header revision.
    Read {
        accounts: BTreeMap<usize, Account>,
        rev: i64,
    },
    /// Whether both compares held; the revision written when they did.
    Transfer { succeeded: bool, rev: i64 },
}

/// Every successful read sees all `accounts` accounts, no negative balance,
/// and `total` in all; returns the first read that does not.
pub fn check_reads(
    ops: &[Operation<Input, Output>],
    accounts: usize,
    total: i64,
) -> Result<(), String> {
    for op in ops {
        let Some(Output::Read {
            accounts: seen,
            rev,
        }) = &op.output
        else {
            continue;
        };
        let why = if seen.len() != accounts || seen.keys().any(|&i| i >= accounts) {
            Some(format!("saw accounts {:?} of {accounts}", seen.keys()))
        } else if let Some((i, a)) = seen.iter().find(|(_, a)| a.balance < 0) {
            Some(format!("account {i} has a negative balance {}", a.balance))
        } else {
            let sum: i64 = seen.values().map(|a| a.balance).sum();
            (sum != total).then(|| format!("balances add up to {sum}, not {total}"))
        };
        if let Some(why) = why {
            return Err(format!(
                "client {} read at revision {rev}: {why}: {seen:?}",
                op.client
            ));
        }
    }
    Ok(())
}

/// Each account's `(balance, mod_revision)`; a revision of `None` is
/// "written by a transfer whose response was lost" (the next read learns it).
pub type State = Vec<(i64, Option<i64>)>;

/// The bank's sequential specification.
pub struct Bank;

impl Model for Bank {
    type State = State;
    type Input = Input;
    type Output = Output;

    fn init() -> State {
        Vec::new() // no accounts until Init
    }

    fn step(s: &State, input: &Input, output: Option<&Output>) -> Option<State> {
        match (input, output) {
            (Input::Init { balances }, Some(Output::Init { rev })) => s
                .is_empty()
                .then(|| balances.iter().map(|&b| (b, Some(*rev))).collect()),
            (Input::Read, Some(Output::Read { accounts, .. })) => {
                if accounts.len() != s.len() {
                    return None;
                }
                let mut next = s.clone();
                for (i, a) in accounts {
                    let (balance, rev) = next.get_mut(*i)?;
                    if *balance != a.balance || rev.is_some_and(|r| r != a.mod_rev) {
                        return None;
                    }
                    *rev = Some(a.mod_rev);
                }
                Some(next)
            }
            (Input::Read, None) => Some(s.clone()),
            (
                Input::Transfer {
                    from,
                    to,
                    from_rev,
                    to_rev,
                    from_balance,
                    to_balance,
                },
                output,
            ) => {
                let (f, t) = (s.get(*from)?, s.get(*to)?);
                let holds = f.1 == Some(*from_rev) && t.1 == Some(*to_rev);
                let written = |rev: Option<i64>| {
                    let mut next = s.clone();
                    next[*from] = (*from_balance, rev);
                    next[*to] = (*to_balance, rev);
                    next
                };
                match output {
                    None if holds => Some(written(None)),
                    None => Some(s.clone()),
                    Some(Output::Transfer { succeeded, rev }) => {
                        // A write's revision is newer than any it replaces.
                        let newer = [f.1, t.1].iter().all(|r| r.is_none_or(|r| *rev > r));
                        if holds != *succeeded {
                            None
                        } else if holds {
                            newer.then(|| written(Some(*rev)))
                        } else {
                            Some(s.clone())
                        }
                    }
                    Some(_) => None,
                }
            }
            _ => None, // an output of the wrong kind
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::linearizability::{check, Verdict};
    use super::*;

    type Op = Operation<Input, Output>;

    fn op(client: usize, call: u64, ret: Option<u64>, input: Input, output: Option<Output>) -> Op {
        Operation {
            client,
            call,
            ret,
            input,
            output,
        }
    }

    fn init(rev: i64) -> Op {
        op(
            0,
            0,
            Some(1),
            Input::Init {
                balances: vec![10, 10],
            },
            Some(Output::Init { rev }),
        )
    }

    fn read(client: usize, call: u64, ret: u64, accounts: &[(i64, i64)], rev: i64) -> Op {
        let accounts = accounts
            .iter()
            .enumerate()
            .map(|(i, &(balance, mod_rev))| (i, Account { balance, mod_rev }))
            .collect();
        op(
            client,
            call,
            Some(ret),
            Input::Read,
            Some(Output::Read { accounts, rev }),
        )
    }

    /// Moves 3 from account 0 to 1, both read at revision 2.
    fn transfer(client: usize, call: u64, ret: Option<u64>, outcome: Option<(bool, i64)>) -> Op {
        op(
            client,
            call,
            ret,
            Input::Transfer {
                from: 0,
                to: 1,
                from_rev: 2,
                to_rev: 2,
                from_balance: 7,
                to_balance: 13,
            },
            outcome.map(|(succeeded, rev)| Output::Transfer { succeeded, rev }),
        )
    }

    #[test]
    fn consistent_reads_pass() {
        let h = [
            init(2),
            read(1, 2, 3, &[(10, 2), (10, 2)], 2),
            transfer(1, 4, Some(5), Some((true, 3))),
            read(2, 6, 7, &[(7, 3), (13, 3)], 3),
        ];
        assert_eq!(check_reads(&h, 2, 20), Ok(()));
        assert_eq!(check::<Bank>(&h, 10_000), Verdict::Ok);
    }

    #[test]
    fn a_wrong_total_is_caught() {
        // Half a transfer: money created.
        let h = [init(2), read(1, 2, 3, &[(10, 2), (13, 3)], 3)];
        assert!(check_reads(&h, 2, 20).is_err());
        assert!(matches!(check::<Bank>(&h, 10_000), Verdict::Illegal(_)));
    }

    #[test]
    fn a_missing_account_or_negative_balance_is_caught() {
        let h = [read(1, 2, 3, &[(20, 2)], 2)];
        assert!(check_reads(&h, 2, 20).unwrap_err().contains("saw accounts"));
        let h = [read(1, 2, 3, &[(-1, 2), (21, 2)], 2)];
        assert!(check_reads(&h, 2, 20).unwrap_err().contains("negative"));
    }

    #[test]
    fn a_stale_read_is_not_linearizable() {
        // The transfer completed before the read began, yet the read
        // returns the old balances: right total, wrong moment.
        let h = [
            init(2),
            transfer(1, 2, Some(3), Some((true, 3))),
            read(2, 4, 5, &[(10, 2), (10, 2)], 2),
        ];
        assert_eq!(check_reads(&h, 2, 20), Ok(()));
        assert!(matches!(check::<Bank>(&h, 10_000), Verdict::Illegal(_)));
    }

    #[test]
    fn a_lost_response_may_or_may_not_have_happened() {
        let happened = [
            init(2),
            transfer(1, 2, None, None),
            read(2, 4, 5, &[(7, 3), (13, 3)], 3),
        ];
        assert_eq!(check::<Bank>(&happened, 10_000), Verdict::Ok);
        let did_not = [
            init(2),
            transfer(1, 2, None, None),
            read(2, 4, 5, &[(10, 2), (10, 2)], 2),
        ];
        assert_eq!(check::<Bank>(&did_not, 10_000), Verdict::Ok);
    }

    #[test]
    fn a_transfer_that_succeeds_against_a_changed_account_is_caught() {
        // Both transfers expect revision 2; only one may succeed.
        let h = [
            init(2),
            transfer(1, 2, Some(3), Some((true, 3))),
            transfer(2, 4, Some(5), Some((true, 4))),
        ];
        assert!(matches!(check::<Bank>(&h, 10_000), Verdict::Illegal(_)));
    }

    #[test]
    fn read_revisions_going_backwards_are_caught() {
        use super::super::revisions::{check, Observed};
        let o = |time, revision| Observed {
            client: 1,
            time,
            revision,
        };
        assert!(check(&[o(3, 2), o(5, 3), o(7, 2)]).is_err());
    }
}
