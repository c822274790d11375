//! Linearizability of a KV history (Herlihy & Wing 1990), checked with the
//! Wing–Gong search plus Lowe's memoisation of `(linearized set, state)`
//! pairs, the algorithm porcupine and Knossos use.
//!
//! etcd's API guarantee (etcd.io/docs "KV API guarantees"): every operation
//! is linearizable, except serializable reads. Operations whose outcome the
//! client never learned (timeouts, dropped connections) may or may not have
//! happened: they get a return time of +∞, so the search may place them
//! anywhere after their call — at the very end being "never happened".
//!
//! The search has a step budget: a search that runs out answers
//! [`Verdict::Unknown`], which a run treats as a failure rather than
//! hanging. The bank scenario uses it with its bank model; whole-KV
//! histories are decided without a search by [`super::kv`].

use std::collections::HashSet;
use std::hash::Hash;

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash + std::fmt::Debug;
    type Input: std::fmt::Debug;
    type Output: std::fmt::Debug;
    fn init() -> Self::State;
    /// The state after applying `input` and seeing `output` (`None`: the
    /// outcome is unknown), or `None` if that output is impossible here.
    fn step(
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;
}

/// One operation as a client saw it.
#[derive(Clone, Debug)]
pub struct Operation<I, O> {
    pub client: usize,
    pub call: u64,
    /// `None`: the client never learned the outcome.
    pub ret: Option<u64>,
    pub input: I,
    pub output: Option<O>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Not linearizable; the indices of the operations of the offending
    /// partition, for a history excerpt.
    Illegal(Vec<usize>),
    /// The search exhausted its budget.
    Unknown,
}

#[derive(Clone, Copy)]
struct Event {
    op: usize,
    is_call: bool,
    prev: usize,
    next: usize,
    /// For a call: index of its return event.
    partner: usize,
}

/// Checks one history (already one partition) against `M`.
pub fn check<M: Model>(ops: &[Operation<M::Input, M::Output>], step_budget: u64) -> Verdict {
    if ops.is_empty() {
        return Verdict::Ok;
    }
    // Events sorted by time; at equal times calls come first (an operation
    // that returned at t does not precede one called at t).
    let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        order.push((op.call, false, i));
        order.push((op.ret.unwrap_or(u64::MAX), true, i));
    }
    order.sort();
    // Node 0 is the head sentinel.
    let n = order.len();
    let mut ev = vec![
        Event {
            op: usize::MAX,
            is_call: false,
            prev: 0,
            next: 0,
            partner: 0
        };
        n + 1
    ];
    let mut ret_at = vec![0usize; ops.len()];
    for (k, &(_, is_ret, op)) in order.iter().enumerate() {
        let idx = k + 1;
        ev[idx] = Event {
            op,
            is_call: !is_ret,
            prev: idx - 1,
            next: if idx == n { usize::MAX } else { idx + 1 },
            partner: 0,
        };
        if is_ret {
            ret_at[op] = idx;
        }
    }
    ev[0].next = 1;
    for e in ev.iter_mut().skip(1) {
        if e.is_call {
            e.partner = ret_at[e.op];
        }
    }
    let lift = |ev: &mut Vec<Event>, c: usize| {
        let r = ev[c].partner;
        let (cp, cn) = (ev[c].prev, ev[c].next);
        ev[cp].next = cn;
        if cn != usize::MAX {
            ev[cn].prev = cp;
        }
        let (rp, rn) = (ev[r].prev, ev[r].next);
        ev[rp].next = rn;
        if rn != usize::MAX {
            ev[rn].prev = rp;
        }
    };
    let unlift = |ev: &mut Vec<Event>, c: usize| {
        let r = ev[c].partner;
        let (rp, rn) = (ev[r].prev, ev[r].next);
        ev[rp].next = r;
        if rn != usize::MAX {
            ev[rn].prev = r;
        }
        let (cp, cn) = (ev[c].prev, ev[c].next);
        ev[cp].next = c;
        if cn != usize::MAX {
            ev[cn].prev = c;
        }
    };
    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut state = M::init();
    let mut cache: HashSet<(Vec<u64>, M::State)> = HashSet::new();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut entry = ev[0].next;
    let mut steps = 0u64;
    while ev[0].next != usize::MAX {
        steps += 1;
        if steps > step_budget {
            return Verdict::Unknown;
        }
        // At the end of the list, or at a return whose call is not
        // linearized yet (every order from here would put that operation
        // after its return): backtrack.
        if entry == usize::MAX || !ev[entry].is_call {
            let Some((c, s)) = stack.pop() else {
                return Verdict::Illegal((0..ops.len()).collect());
            };
            state = s;
            linearized[ev[c].op / 64] &= !(1 << (ev[c].op % 64));
            unlift(&mut ev, c);
            entry = ev[c].next;
            continue;
        }
        let e = ev[entry];
        let op = &ops[e.op];
        if let Some(next) = M::step(&state, &op.input, op.output.as_ref()) {
            let mut lin = linearized.clone();
            lin[e.op / 64] |= 1 << (e.op % 64);
            if cache.insert((lin.clone(), next.clone())) {
                stack.push((entry, state));
                state = next;
                linearized = lin;
                lift(&mut ev, entry);
                entry = ev[0].next;
                continue;
            }
        }
        entry = e.next;
    }
    Verdict::Ok
}

/// Checks a history partitioned by `key_of`; the first failing partition
/// decides. (The register histories it was for are now decided by
/// [`super::kv`]; the search's tests still use it.)
#[cfg(test)]
pub fn check_partitioned<M: Model, K: Ord>(
    ops: &[Operation<M::Input, M::Output>],
    key_of: impl Fn(&M::Input) -> K,
    step_budget: u64,
) -> Verdict
where
    M::Input: Clone,
    M::Output: Clone,
{
    let mut parts: std::collections::BTreeMap<K, Vec<usize>> = Default::default();
    for (i, op) in ops.iter().enumerate() {
        parts.entry(key_of(&op.input)).or_default().push(i);
    }
    let mut unknown = false;
    for idx in parts.values() {
        let sub: Vec<_> = idx.iter().map(|&i| ops[i].clone()).collect();
        match check::<M>(&sub, step_budget) {
            Verdict::Ok => {}
            Verdict::Unknown => unknown = true,
            Verdict::Illegal(_) => return Verdict::Illegal(idx.clone()),
        }
    }
    if unknown {
        Verdict::Unknown
    } else {
        Verdict::Ok
    }
}

/// etcd's KV seen as one register per key, including the key's
/// `mod_revision` (the revision of the write a read observes): the model the
/// search's tests use.
#[cfg(test)]
pub mod register {
    use super::Model;

    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    pub enum Input {
        Get {
            key: String,
        },
        Put {
            key: String,
            value: String,
        },
        /// `txn: if value(key) == expect then put(key, value)`.
        Cas {
            key: String,
            expect: String,
            value: String,
        },
    }

    impl Input {
        pub fn key(&self) -> &str {
            match self {
                Input::Get { key } | Input::Put { key, .. } | Input::Cas { key, .. } => key,
            }
        }
    }

    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    pub enum Output {
        /// The value read and the key's `mod_revision` (0 when absent).
        Get { value: Option<String>, mod_rev: i64 },
        /// The revision the write created.
        Put { rev: i64 },
        /// Whether the compare held; the revision written when it did.
        Cas { succeeded: bool, rev: i64 },
    }

    /// `(value, mod_revision)`; a revision of `None` is "written by an
    /// operation whose response was lost": any later revision matches it once.
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    pub struct State {
        pub value: Option<String>,
        pub rev: Option<i64>,
    }

    pub struct Register;

    impl Model for Register {
        type State = State;
        type Input = Input;
        type Output = Output;

        fn init() -> State {
            State {
                value: None,
                rev: Some(0),
            }
        }

        fn step(s: &State, input: &Input, output: Option<&Output>) -> Option<State> {
            let newer = |rev: i64| s.rev.is_none_or(|r| rev > r);
            match (input, output) {
                (Input::Get { .. }, Some(Output::Get { value, mod_rev })) => {
                    let rev_ok = s.rev.is_none_or(|r| r == *mod_rev);
                    (*value == s.value && rev_ok).then(|| State {
                        value: s.value.clone(),
                        rev: Some(*mod_rev),
                    })
                }
                // A read with no answer constrains nothing.
                (Input::Get { .. }, None) => Some(s.clone()),
                (Input::Put { value, .. }, Some(Output::Put { rev })) => {
                    newer(*rev).then(|| State {
                        value: Some(value.clone()),
                        rev: Some(*rev),
                    })
                }
                (Input::Put { value, .. }, None) => Some(State {
                    value: Some(value.clone()),
                    rev: None,
                }),
                (Input::Cas { expect, value, .. }, Some(Output::Cas { succeeded, rev })) => {
                    let holds = s.value.as_ref() == Some(expect);
                    if holds != *succeeded {
                        None
                    } else if holds {
                        newer(*rev).then(|| State {
                            value: Some(value.clone()),
                            rev: Some(*rev),
                        })
                    } else {
                        Some(s.clone())
                    }
                }
                (Input::Cas { expect, value, .. }, None) => {
                    if s.value.as_ref() == Some(expect) {
                        Some(State {
                            value: Some(value.clone()),
                            rev: None,
                        })
                    } else {
                        Some(s.clone())
                    }
                }
                _ => None, // an output of the wrong kind
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::register::{Input, Output, Register};
    use super::*;

    type Op = Operation<Input, Output>;

    fn get(client: usize, call: u64, ret: u64, value: Option<&str>, mod_rev: i64) -> Op {
        Operation {
            client,
            call,
            ret: Some(ret),
            input: Input::Get { key: "x".into() },
            output: Some(Output::Get {
                value: value.map(String::from),
                mod_rev,
            }),
        }
    }

    fn put(client: usize, call: u64, ret: Option<u64>, value: &str, rev: i64) -> Op {
        Operation {
            client,
            call,
            ret,
            input: Input::Put {
                key: "x".into(),
                value: value.into(),
            },
            output: ret.map(|_| Output::Put { rev }),
        }
    }

    fn verdict(ops: &[Op]) -> Verdict {
        check_partitioned::<Register, _>(ops, |i| i.key().to_string(), 1_000_000)
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = vec![
            put(0, 0, Some(1), "a", 2),
            get(1, 2, 3, Some("a"), 2),
            put(0, 4, Some(5), "b", 3),
            get(1, 6, 7, Some("b"), 3),
        ];
        assert_eq!(verdict(&h), Verdict::Ok);
    }

    #[test]
    fn concurrent_read_may_see_either_value() {
        let h = vec![
            put(0, 0, Some(1), "a", 2),
            put(0, 2, Some(10), "b", 3),
            get(1, 3, 4, Some("a"), 2),
            get(2, 5, 6, Some("b"), 3),
        ];
        assert_eq!(verdict(&h), Verdict::Ok);
    }

    #[test]
    fn stale_read_after_completed_write_is_rejected() {
        let h = vec![
            put(0, 0, Some(1), "a", 2),
            put(0, 2, Some(3), "b", 3),
            get(1, 4, 5, Some("a"), 2),
        ];
        assert!(matches!(verdict(&h), Verdict::Illegal(_)));
    }

    #[test]
    fn read_flip_flop_is_rejected() {
        // Two sequential reads by one client see b then a: a went back in time.
        let h = vec![
            put(0, 0, Some(1), "a", 2),
            put(0, 2, Some(10), "b", 3),
            get(1, 3, 4, Some("b"), 3),
            get(1, 5, 6, Some("a"), 2),
        ];
        assert!(matches!(verdict(&h), Verdict::Illegal(_)));
    }

    #[test]
    fn lost_write_may_or_may_not_have_happened() {
        let seen = vec![put(0, 0, None, "a", 0), get(1, 5, 6, Some("a"), 2)];
        assert_eq!(verdict(&seen), Verdict::Ok);
        let unseen = vec![put(0, 0, None, "a", 0), get(1, 5, 6, None, 0)];
        assert_eq!(verdict(&unseen), Verdict::Ok);
    }

    #[test]
    fn read_of_a_value_never_written_is_rejected() {
        let h = vec![put(0, 0, Some(1), "a", 2), get(1, 2, 3, Some("z"), 2)];
        assert!(matches!(verdict(&h), Verdict::Illegal(_)));
    }

    #[test]
    fn revisions_must_grow() {
        // The second write reports an older revision than the first.
        let h = vec![put(0, 0, Some(1), "a", 5), put(0, 2, Some(3), "b", 4)];
        assert!(matches!(verdict(&h), Verdict::Illegal(_)));
    }

    #[test]
    fn cas_must_see_the_current_value() {
        let cas = |call, ret, succeeded, rev| Operation {
            client: 2,
            call,
            ret: Some(ret),
            input: Input::Cas {
                key: "x".into(),
                expect: "a".into(),
                value: "c".into(),
            },
            output: Some(Output::Cas { succeeded, rev }),
        };
        let ok = vec![
            put(0, 0, Some(1), "a", 2),
            cas(2, 3, true, 3),
            get(1, 4, 5, Some("c"), 3),
        ];
        assert_eq!(verdict(&ok), Verdict::Ok);
        let bad = vec![put(0, 0, Some(1), "b", 2), cas(2, 3, true, 3)];
        assert!(matches!(verdict(&bad), Verdict::Illegal(_)));
    }

    #[test]
    fn budget_exhaustion_is_unknown_not_ok() {
        let mut h = Vec::new();
        for i in 0..12 {
            h.push(put(i, 0, Some(100), &format!("v{i}"), 2 + i as i64));
        }
        h.push(get(99, 101, 102, Some("nope"), 1));
        assert_eq!(
            check_partitioned::<Register, _>(&h, |i| i.key().to_string(), 50),
            Verdict::Unknown
        );
    }
}
