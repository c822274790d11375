//! Linearizability of a whole-KV history (Herlihy & Wing 1990), decided
//! with etcd's revisions instead of a search.
//!
//! etcd's API guarantees (etcd.io/docs "KV API guarantees"): every request
//! but a serializable read is linearizable, and each response's header
//! revision is the store's revision at the request's linearization point.
//! Every write creates exactly one revision, so the responses already say
//! almost the whole order: the writer of revision `R` comes right after the
//! writer of `R - 1`, and every request that did not write and answered `R`
//! sits between them. The checker:
//!
//! 1. places each answered request at its revision (a write at `R`, a
//!    non-writing request after it) — two writers of one revision, or a
//!    revision created by no request, need no further search;
//! 2. fills each revision no answered write claims with a request whose
//!    answer was lost (a timeout may or may not have happened), trying the
//!    candidates in call order and backtracking only there;
//! 3. replays that order through the reference model ([`crate::model`]),
//!    which must give every answered request exactly its answer;
//! 4. checks real time: a request that returned before another was called
//!    is ordered before it (`(revision, writer first)` must not decrease);
//! 5. checks each error answer (compacted, future revision, key not found)
//!    against the states the store was in while the request was in flight.
//!
//! Serializable reads are exempt from real time (etcd allows them to be
//! stale) but must still match the store at the revision they report.

use std::collections::BTreeMap;

use oxcd::pb::etcdserverpb::{
    range_request, response_op, PutResponse, RangeResponse, RequestOp, TxnResponse,
};

use crate::coverage;
use crate::model::{KvError, KvModel, Request, Response};

/// One request as a client saw it.
#[derive(Clone, Debug)]
pub struct KvOp {
    pub client: usize,
    pub call: u64,
    /// `None`: the client never learned the outcome.
    pub ret: Option<u64>,
    pub req: Request,
    /// `None`: unknown; `Some(Err)`: an error etcd answers definitely.
    pub out: Option<Result<Response, KvError>>,
}

/// Why a history is not linearizable (or could not be decided).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub why: String,
    /// The operations involved, for a history excerpt.
    pub ops: Vec<usize>,
}

/// What a decided history looked like.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decided {
    pub revisions: i64,
    /// Revisions written by requests whose answers were lost.
    pub filled: usize,
    /// Candidate placements tried for those revisions.
    pub steps: u64,
}

fn violation(why: String, ops: Vec<usize>) -> Violation {
    Violation { why, ops }
}

/// Whether an answer says the request wrote (created a revision).
pub fn wrote(resp: &Response) -> bool {
    match resp {
        Response::Put(_) => true,
        Response::DeleteRange(d) => d.deleted > 0,
        Response::Txn(t) => txn_wrote(t),
        Response::Range(_) | Response::Compact(_) => false,
    }
}

fn txn_wrote(t: &TxnResponse) -> bool {
    t.responses.iter().any(|r| match &r.response {
        Some(response_op::Response::ResponsePut(_)) => true,
        Some(response_op::Response::ResponseDeleteRange(d)) => d.deleted > 0,
        Some(response_op::Response::ResponseTxn(t)) => txn_wrote(t),
        _ => false,
    })
}

fn is_serializable(req: &Request) -> bool {
    matches!(req, Request::Range(r) if r.serializable)
}

/// `(revision, 0)` for the writer of a revision, `(revision, 1)` for a
/// request that read (or compacted) at it: the order real time must respect.
type Key = (i64, u8);

fn key_of(resp: &Response) -> Key {
    (resp.revision(), u8::from(!wrote(resp)))
}

/// Requests that answered with a revision, by revision.
#[derive(Default)]
struct Slot {
    writer: Option<usize>,
    /// Requests that did not write, in call order.
    others: Vec<usize>,
}

struct Checker<'a> {
    ops: &'a [KvOp],
    slots: BTreeMap<i64, Slot>,
    /// Unknown-outcome requests, in call order.
    unknown: Vec<usize>,
    /// For each op index, the highest key among requests that returned
    /// before it was called.
    floor: Vec<Option<Key>>,
    budget: u64,
    steps: u64,
}

/// Decides `ops`; `budget` bounds the placements tried for lost answers.
pub fn check(ops: &[KvOp], budget: u64) -> Result<Decided, Violation> {
    let mut c = Checker::new(ops, budget)?;
    c.real_time()?;
    c.compaction_order()?;
    let max_rev = c.slots.keys().next_back().copied().unwrap_or(1);
    let mut used = vec![false; ops.len()];
    let (model, filled) = c.replay(KvModel::default(), 2, max_rev, &mut used)?;
    Ok(Decided {
        revisions: model.rev(),
        filled,
        steps: c.steps,
    })
}

impl<'a> Checker<'a> {
    fn new(ops: &'a [KvOp], budget: u64) -> Result<Checker<'a>, Violation> {
        let mut slots: BTreeMap<i64, Slot> = BTreeMap::new();
        let mut unknown = Vec::new();
        let mut by_call: Vec<usize> = (0..ops.len()).collect();
        by_call.sort_by_key(|&i| (ops[i].call, i));
        for &i in &by_call {
            match &ops[i].out {
                None => unknown.push(i),
                Some(Err(_)) => {}
                Some(Ok(resp)) => {
                    // etcd starts at revision 1 (the empty store); the first
                    // write creates revision 2.
                    let least = if wrote(resp) { 2 } else { 1 };
                    if resp.revision() < least {
                        return Err(violation(
                            format!(
                                "op {i} answered at revision {}, below any the store can be at",
                                resp.revision()
                            ),
                            vec![i],
                        ));
                    }
                    let slot = slots.entry(resp.revision()).or_default();
                    if !wrote(resp) {
                        slot.others.push(i);
                    } else if let Some(w) = slot.writer {
                        return Err(violation(
                            format!("two writes claim revision {}", resp.revision()),
                            vec![w, i],
                        ));
                    } else {
                        slot.writer = Some(i);
                    }
                }
            }
        }
        let floor = floors(ops);
        Ok(Checker {
            ops,
            slots,
            unknown,
            floor,
            budget,
            steps: 0,
        })
    }

    /// A request that returned before another was called is ordered first.
    fn real_time(&self) -> Result<(), Violation> {
        for (i, op) in self.ops.iter().enumerate() {
            let Some(Ok(resp)) = &op.out else { continue };
            if is_serializable(&op.req) {
                continue;
            }
            let k = key_of(resp);
            if let Some(f) = self.floor[i] {
                if f > k {
                    let earlier = self.witness(i, f);
                    return Err(violation(
                        format!(
                            "op {i} answered at revision {} ({}), after an op that returned before it was called had seen revision {}",
                            k.0,
                            if k.1 == 0 { "its own write" } else { "a read" },
                            f.0
                        ),
                        vec![earlier, i],
                    ));
                }
            }
        }
        Ok(())
    }

    /// The compaction point only rises, so what one request proves about it
    /// (a range failing as compacted: at least the least compaction that
    /// could explain it; a successful compaction: at least its revision)
    /// bounds every request called after that one returned (a successful
    /// range at revision `r`: at most `r`; a successful compaction to `R`:
    /// below `R`). This holds whether or not the compactions' answers were
    /// lost, which the revision order alone cannot say.
    fn compaction_order(&self) -> Result<(), Violation> {
        let ops = self.ops;
        // (returned at, the compaction point is at least).
        let mut lows: Vec<(u64, i64, usize)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let (Some(ret), Some(out)) = (op.ret, &op.out) else {
                continue;
            };
            let low = match (&op.req, out) {
                (Request::Compact(c), Ok(_)) | (Request::Compact(c), Err(KvError::Compacted)) => {
                    Some(c.revision)
                }
                (Request::Range(r), Err(KvError::Compacted)) => self
                    .compactions_in_flight(i)
                    .filter(|&c| c > r.revision)
                    .min(),
                _ => None,
            };
            if let Some(low) = low {
                lows.push((ret, low, i));
            }
        }
        lows.sort();
        let mut best: Vec<(i64, usize)> = Vec::with_capacity(lows.len());
        for &(_, low, i) in &lows {
            let prev = best.last().copied();
            best.push(match prev {
                Some(p) if p.0 >= low => p,
                _ => (low, i),
            });
        }
        for (i, op) in ops.iter().enumerate() {
            if is_serializable(&op.req) {
                continue; // its member may not have applied the compaction
            }
            let high = match (&op.req, &op.out) {
                (Request::Range(r), Some(Ok(_))) if r.revision > 0 => r.revision,
                (Request::Compact(c), Some(Ok(_))) => c.revision - 1,
                _ => continue,
            };
            let n = lows.partition_point(|&(t, _, _)| t < op.call);
            let Some(&(low, j)) = n.checked_sub(1).map(|k| &best[k]) else {
                continue;
            };
            if low > high {
                return Err(violation(
                    format!(
                        "op {i} ({}) succeeded, but op {j}, which returned before it was called, showed the store compacted to at least {low}",
                        describe(&op.req)
                    ),
                    vec![j, i],
                ));
            }
        }
        Ok(())
    }

    /// An op that returned before `i` was called with key `f`.
    fn witness(&self, i: usize, f: Key) -> usize {
        let call = self.ops[i].call;
        (0..self.ops.len())
            .find(|&j| {
                self.ops[j].ret.is_some_and(|r| r < call)
                    && matches!(&self.ops[j].out, Some(Ok(r)) if key_of(r) == f && !is_serializable(&self.ops[j].req))
            })
            .unwrap_or(i)
    }

    /// Replays revisions `from..=to` onto `model`; fills revisions no
    /// answered write claims with lost ones, backtracking over the choice.
    fn replay(
        &mut self,
        mut model: KvModel,
        from: i64,
        to: i64,
        used: &mut Vec<bool>,
    ) -> Result<(KvModel, usize), Violation> {
        // Revision 1 is the empty store: only reads sit there.
        if from == 2 {
            self.apply_others(&mut model, 1)?;
        }
        for rev in from..=to {
            let writer = self.slots.get(&rev).and_then(|s| s.writer);
            match writer {
                Some(w) => self.apply_answered(&mut model, w)?,
                None => return self.fill(model, rev, to, used),
            }
            self.apply_others(&mut model, rev)?;
        }
        self.check_errors(&model, used)?;
        Ok((model, 0))
    }

    /// Revision `rev` was written by a request whose answer was lost.
    fn fill(
        &mut self,
        model: KvModel,
        rev: i64,
        to: i64,
        used: &mut Vec<bool>,
    ) -> Result<(KvModel, usize), Violation> {
        let mut last = None;
        for k in 0..self.unknown.len() {
            let u = self.unknown[k];
            // It must not have been called after a request that returned
            // before this revision was written.
            if used[u] || self.floor[u].is_some_and(|f| f >= (rev, 0)) {
                continue;
            }
            self.steps += 1;
            if self.steps > self.budget {
                return Err(violation(
                    format!(
                        "undecided: the placement budget ({}) ran out at revision {rev}",
                        self.budget
                    ),
                    vec![],
                ));
            }
            let mut m = model.clone();
            if m.apply(&self.ops[u].req).is_err() || m.rev() != rev {
                continue; // it would not have written here
            }
            used[u] = true;
            let rest = self.apply_others(&mut m, rev).and_then(|()| {
                if rev < to {
                    self.replay(m, rev + 1, to, used)
                } else {
                    self.check_errors(&m, used).map(|()| (m, 0))
                }
            });
            match rest {
                Ok((m, filled)) => return Ok((m, filled + 1)),
                Err(v) if v.why.starts_with("undecided") => return Err(v),
                Err(v) => last = Some(v),
            }
            used[u] = false;
        }
        Err(last.unwrap_or_else(|| {
            violation(
                format!("revision {rev} was written, but by no request that could have"),
                self.slots.get(&rev).map_or(vec![], |s| s.others.clone()),
            )
        }))
    }

    /// An answered request at its place: the model must answer the same.
    fn apply_answered(&self, model: &mut KvModel, i: usize) -> Result<(), Violation> {
        let op = &self.ops[i];
        let Some(Ok(got)) = &op.out else {
            unreachable!("only answered requests are placed")
        };
        let want = model.apply(&op.req);
        match want {
            Ok(want) if same(&op.req, &want, got) => Ok(()),
            want => Err(violation(
                format!(
                    "op {i} ({}) answered {} but the model, at revision {}, answers {}",
                    describe(&op.req),
                    show(&Ok(got.clone())),
                    model.rev(),
                    show(&want)
                ),
                vec![i],
            )),
        }
    }

    /// The requests that did not write and answered at `rev`. Reads go
    /// before the compactions at the same revision unless a compaction
    /// returned before the read was called.
    fn apply_others(&self, model: &mut KvModel, rev: i64) -> Result<(), Violation> {
        let Some(slot) = self.slots.get(&rev) else {
            return Ok(());
        };
        let compacts_to = |i: usize| match &self.ops[i].req {
            Request::Compact(c) => Some(c.revision),
            _ => None,
        };
        let (mut compactions, reads): (Vec<usize>, Vec<usize>) =
            slot.others.iter().partition(|i| compacts_to(**i).is_some());
        // Compactions that all succeeded at one revision did so in
        // ascending order (a compaction at or below the point fails); real
        // time must allow that order.
        compactions.sort_by_key(|&c| compacts_to(c));
        for (a, &c) in compactions.iter().enumerate() {
            for &later in &compactions[a + 1..] {
                if self.ops[later].ret.is_some_and(|t| t < self.ops[c].call) {
                    return Err(violation(
                        format!(
                            "compactions {later} and {c} both succeeded, but {later} (to a higher revision) returned before {c} was called"
                        ),
                        vec![later, c],
                    ));
                }
            }
        }
        for &r in &reads {
            // Real time orders a compaction that returned before a read
            // was called, unless the read is serializable (its member may
            // not have applied the compaction yet).
            let linearizable = !is_serializable(&self.ops[r].req);
            let before: Vec<usize> = compactions
                .iter()
                .copied()
                .filter(|&c| linearizable && self.ops[c].ret.is_some_and(|t| t < self.ops[r].call))
                .collect();
            if before.is_empty() {
                self.apply_answered(model, r)?;
                continue;
            }
            let mut m = model.clone();
            for c in before {
                // Its own answer is checked below, in its turn.
                let _ = m.apply(&self.ops[c].req);
            }
            self.apply_answered(&mut m, r)?;
        }
        for &c in &compactions {
            self.apply_answered(model, c)?;
        }
        Ok(())
    }

    /// Each error answer must be one the store gives at some moment while
    /// the request was in flight.
    fn check_errors(&self, model: &KvModel, used: &[bool]) -> Result<(), Violation> {
        for (i, op) in self.ops.iter().enumerate() {
            let Some(Err(e)) = &op.out else { continue };
            if !self.error_possible(model, i, *e) && !self.lost_write_explains(model, i, *e, used) {
                return Err(violation(
                    format!(
                        "op {i} ({}) failed with {e:?}, which the store could not have answered while it ran (at revisions {:?}, compacted to {})",
                        describe(&op.req),
                        self.in_flight(model, i),
                        model.compacted()
                    ),
                    vec![i],
                ));
            }
        }
        Ok(())
    }

    /// The store's revisions while op `i` ran: at least the first when it
    /// began, at most the last when it returned. A serializable read may
    /// come from a member that lags: any revision it had applied.
    fn in_flight(&self, model: &KvModel, i: usize) -> std::ops::RangeInclusive<i64> {
        let op = &self.ops[i];
        let lo = if is_serializable(&op.req) {
            1
        } else {
            self.floor[i].map_or(1, |k| k.0)
        };
        let hi = self.ceiling(op.ret.unwrap_or(u64::MAX)).min(model.rev());
        lo..=hi.max(lo)
    }

    fn error_possible(&self, model: &KvModel, i: usize, e: KvError) -> bool {
        let op = &self.ops[i];
        let revs = self.in_flight(model, i);
        let lo = *revs.start();
        let compactions_before = || self.compactions_in_flight(i);
        match (&op.req, e) {
            (Request::Range(r), KvError::FutureRev) => lo < r.revision,
            (Request::Range(r), KvError::Compacted) => compactions_before().any(|c| r.revision < c),
            (Request::Compact(c), KvError::FutureRev) => lo < c.revision,
            (Request::Compact(c), KvError::Compacted) => {
                compactions_before().any(|other| c.revision <= other)
            }
            // A txn checks its ranges' revisions before it runs (etcd's
            // checkRequestRange): as a range, it can meet any compaction
            // that could have taken effect while it ran, including one whose
            // answer was lost and that the model never placed.
            (Request::Txn(t), KvError::Compacted)
                if txn_range_revisions(t)
                    .iter()
                    .any(|&rev| compactions_before().any(|c| rev < c)) =>
            {
                true
            }
            (Request::Put(p), KvError::LeaseNotFound) => p.lease != 0,
            (req, e) => revs.clone().any(|rev| {
                model
                    .states_at(rev)
                    .iter_mut()
                    .any(|m| m.apply(req) == Err(e))
            }),
        }
    }

    /// The revisions compacted to by compactions that could have taken
    /// effect before op `i` returned: called before then, not refused, and
    /// if answered, applied at a revision the store could have been at.
    fn compactions_in_flight(&self, i: usize) -> impl Iterator<Item = i64> + '_ {
        let ret = self.ops[i].ret.unwrap_or(u64::MAX);
        let ceiling = self.ceiling(ret);
        self.ops
            .iter()
            .enumerate()
            .filter_map(move |(j, o)| match (&o.req, &o.out) {
                (Request::Compact(c), None) if j != i && o.call < ret => Some(c.revision),
                (Request::Compact(c), Some(Ok(at))) if j != i && o.call < ret => {
                    (at.revision() <= ceiling).then_some(c.revision)
                }
                _ => None,
            })
    }

    /// Whether a request whose answer was lost, and that no revision up to
    /// the last answered one needed, could have run after all of them and
    /// made `i` fail with `e` (say a lost delete of the key a put with
    /// `ignore_value` then did not find).
    fn lost_write_explains(&self, model: &KvModel, i: usize, e: KvError, used: &[bool]) -> bool {
        let ret = self.ops[i].ret.unwrap_or(u64::MAX);
        self.unknown.iter().any(|&u| {
            let mut m = model.clone();
            !used[u]
                && self.ops[u].call < ret
                && m.apply(&self.ops[u].req).is_ok()
                && m.apply(&self.ops[i].req) == Err(e)
        })
    }

    /// The store's revision when an op returned at `t` at most: below any
    /// revision a later-called request wrote or read.
    fn ceiling(&self, t: u64) -> i64 {
        self.ops
            .iter()
            .filter(|o| o.call > t && !is_serializable(&o.req))
            .filter_map(|o| match &o.out {
                Some(Ok(r)) => Some(if wrote(r) {
                    r.revision() - 1
                } else {
                    r.revision()
                }),
                _ => None,
            })
            .min()
            .unwrap_or(i64::MAX)
    }
}

/// For each op, the highest key among linearizable requests that returned
/// before it was called.
fn floors(ops: &[KvOp]) -> Vec<Option<Key>> {
    let mut returns: Vec<(u64, Key)> = ops
        .iter()
        .filter(|o| !is_serializable(&o.req))
        .filter_map(|o| match (&o.out, o.ret) {
            (Some(Ok(r)), Some(t)) => Some((t, key_of(r))),
            _ => None,
        })
        .collect();
    returns.sort();
    let mut best = Vec::with_capacity(returns.len());
    let mut max: Option<Key> = None;
    for &(_, k) in &returns {
        max = max.max(Some(k));
        best.push(max);
    }
    ops.iter()
        .map(|o| {
            let n = returns.partition_point(|(t, _)| *t < o.call);
            n.checked_sub(1).and_then(|i| best[i])
        })
        .collect()
}

/// Runs the checker on `h` and times it; the violation, with an excerpt of
/// the offending operations, as the error (`OXCD_SIM_DUMP=1` also prints
/// the compactions, `=all` every operation).
pub fn decide(h: &[KvOp], budget: u64) -> Result<Decided, String> {
    let t0 = coverage::real_now();
    let verdict = check(h, budget);
    coverage::check_took(coverage::real_now().saturating_sub(t0));
    if verdict.is_err() && std::env::var("OXCD_SIM_DUMP").is_ok() {
        for (i, o) in h.iter().enumerate() {
            if std::env::var("OXCD_SIM_DUMP").is_ok_and(|v| v == "all")
                || matches!(o.req, Request::Compact(_))
            {
                eprintln!(
                    "DUMP op {i}: client {} [{}, {:?}] {} -> {:?}",
                    o.client,
                    o.call,
                    o.ret,
                    describe(&o.req),
                    o.out
                );
            }
        }
    }
    match verdict {
        Ok(d) => Ok(d),
        Err(v) => {
            let excerpt: Vec<String> = v
                .ops
                .iter()
                .take(10)
                .map(|&i| {
                    let o = &h[i];
                    format!(
                        "  op {i}: client {} [{}, {:?}] {} -> {:?}",
                        o.client,
                        o.call,
                        o.ret,
                        describe(&o.req),
                        o.out
                    )
                })
                .collect();
            Err(format!(
                "kv history is not linearizable: {}\n{}",
                v.why,
                excerpt.join("\n")
            ))
        }
    }
}

/// Whether an answer equals the model's, up to what differs between
/// servers: the cluster fields of headers, and nested headers.
pub fn same(req: &Request, want: &Response, got: &Response) -> bool {
    match (req, want, got) {
        (Request::Range(_), Response::Range(w), Response::Range(g)) => same_range(w, g),
        (_, Response::Put(w), Response::Put(g)) => {
            w.header.as_ref().map(|h| h.revision) == g.header.as_ref().map(|h| h.revision)
                && w.prev_kv == g.prev_kv
        }
        (_, Response::DeleteRange(w), Response::DeleteRange(g)) => {
            w.header.as_ref().map(|h| h.revision) == g.header.as_ref().map(|h| h.revision)
                && w.deleted == g.deleted
                && w.prev_kvs == g.prev_kvs
        }
        (Request::Txn(t), Response::Txn(w), Response::Txn(g)) => {
            w.header.as_ref().map(|h| h.revision) == g.header.as_ref().map(|h| h.revision)
                && same_txn(&t.success, &t.failure, w, g)
        }
        (_, Response::Compact(w), Response::Compact(g)) => w == g,
        _ => false,
    }
}

fn same_txn(
    success: &[RequestOp],
    failure: &[RequestOp],
    w: &TxnResponse,
    g: &TxnResponse,
) -> bool {
    if w.succeeded != g.succeeded || w.responses.len() != g.responses.len() {
        return false;
    }
    let ops = if w.succeeded { success } else { failure };
    ops.iter()
        .zip(w.responses.iter().zip(&g.responses))
        .all(|(op, (w, g))| same_op(op, w.response.as_ref(), g.response.as_ref()))
}

fn same_op(
    op: &RequestOp,
    w: Option<&response_op::Response>,
    g: Option<&response_op::Response>,
) -> bool {
    use oxcd::pb::etcdserverpb::request_op::Request as Q;
    use response_op::Response as R;
    match (&op.request, w, g) {
        (Some(Q::RequestRange(_)), Some(R::ResponseRange(w)), Some(R::ResponseRange(g))) => {
            same_range(w, g)
        }
        (_, Some(R::ResponsePut(w)), Some(R::ResponsePut(g))) => w.prev_kv == g.prev_kv,
        (_, Some(R::ResponseDeleteRange(w)), Some(R::ResponseDeleteRange(g))) => {
            w.deleted == g.deleted && w.prev_kvs == g.prev_kvs
        }
        (Some(Q::RequestTxn(t)), Some(R::ResponseTxn(w)), Some(R::ResponseTxn(g))) => {
            same_txn(&t.success, &t.failure, w, g)
        }
        _ => false,
    }
}

fn same_range(w: &RangeResponse, g: &RangeResponse) -> bool {
    let rev = |r: &RangeResponse| r.header.as_ref().map(|h| h.revision);
    // Inside a txn the model leaves the header out. Pairs compare exactly,
    // in order: etcd 3.4 sorts with Go's `sort.Sort`, an insertion sort (so
    // stable) for the few pairs the simulated key spaces hold, and oxcd is
    // to answer as etcd does (the gRPC differential test compares the same).
    w.count == g.count
        && w.more == g.more
        && w.kvs == g.kvs
        && (w.header.is_none() || rev(w) == rev(g))
}

/// A short description of a request, for reports.
pub fn describe(req: &Request) -> String {
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match req {
        Request::Range(r) => format!(
            "range {}..{} at {} limit {} sort {:?}/{:?}{}{}{} mod {}..{} create {}..{}",
            s(&r.key),
            s(&r.range_end),
            r.revision,
            r.limit,
            range_request::SortTarget::try_from(r.sort_target),
            range_request::SortOrder::try_from(r.sort_order),
            if r.keys_only { " keys_only" } else { "" },
            if r.count_only { " count_only" } else { "" },
            if r.serializable { " serializable" } else { "" },
            r.min_mod_revision,
            r.max_mod_revision,
            r.min_create_revision,
            r.max_create_revision
        ),
        Request::Put(p) => format!(
            "put {}={}{}{}{}",
            s(&p.key),
            s(&p.value),
            if p.ignore_value { " ignore_value" } else { "" },
            if p.ignore_lease { " ignore_lease" } else { "" },
            if p.lease != 0 { " lease" } else { "" }
        ),
        Request::DeleteRange(d) => format!("delete {}..{}", s(&d.key), s(&d.range_end)),
        Request::Txn(t) => describe_txn(t),
        Request::Compact(c) => format!("compact {}", c.revision),
    }
}

/// The revisions every range in a txn (any branch, nested txns too) asks
/// for, past ones only (0 is the current revision).
fn txn_range_revisions(t: &oxcd::pb::etcdserverpb::TxnRequest) -> Vec<i64> {
    use oxcd::pb::etcdserverpb::request_op::Request as Q;
    let mut revs = Vec::new();
    for op in t.success.iter().chain(&t.failure) {
        match &op.request {
            Some(Q::RequestRange(r)) if r.revision > 0 => revs.push(r.revision),
            Some(Q::RequestTxn(n)) => revs.extend(txn_range_revisions(n)),
            _ => {}
        }
    }
    revs
}

fn describe_txn(t: &oxcd::pb::etcdserverpb::TxnRequest) -> String {
    use oxcd::pb::etcdserverpb::request_op::Request as Q;
    let branch = |ops: &[RequestOp]| {
        ops.iter()
            .map(|op| match &op.request {
                Some(Q::RequestRange(r)) => describe(&Request::Range(r.clone())),
                Some(Q::RequestPut(p)) => describe(&Request::Put(p.clone())),
                Some(Q::RequestDeleteRange(d)) => describe(&Request::DeleteRange(d.clone())),
                Some(Q::RequestTxn(t)) => describe_txn(t),
                None => "nothing".into(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let compares: Vec<String> = t
        .compare
        .iter()
        .map(|c| {
            format!(
                "{}..{} {:?} {:?} {:?}",
                String::from_utf8_lossy(&c.key),
                String::from_utf8_lossy(&c.range_end),
                oxcd::pb::etcdserverpb::compare::CompareTarget::try_from(c.target),
                oxcd::pb::etcdserverpb::compare::CompareResult::try_from(c.result),
                c.target_union
            )
        })
        .collect();
    format!(
        "txn if [{}] then [{}] else [{}]",
        compares.join(", "),
        branch(&t.success),
        branch(&t.failure)
    )
}

fn show(r: &Result<Response, KvError>) -> String {
    match r {
        Ok(Response::Put(PutResponse { header, prev_kv })) => format!(
            "put at {} prev {:?}",
            header.as_ref().map_or(0, |h| h.revision),
            prev_kv.as_ref().map(|kv| (
                String::from_utf8_lossy(&kv.value).into_owned(),
                kv.mod_revision
            ))
        ),
        Ok(resp) => format!("{resp:?}").chars().take(400).collect(),
        Err(e) => format!("{e:?}"),
    }
}

#[cfg(test)]
mod tests;
