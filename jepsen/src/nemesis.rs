//! Faults on the real cluster, one at a time: start one, hold it a while,
//! undo it, rest, repeat until the time limit. Every fault is logged with
//! its interval on the histories' time axis (`oxcd_checker::clock::now`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::db::{self, leader, Cluster};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Random halves, the leader alone, or a bridge (one node sees both
    /// sides, the sides do not see each other).
    Partition,
    /// SIGKILL a node (the leader half the time), restart it later.
    Kill,
    /// SIGSTOP a node (the leader half the time), SIGCONT later.
    Pause,
    /// Every link slow and lossy (`tc netem`, or a token bucket and
    /// random drops where the kernel lacks netem).
    Netem,
    /// A member removed (process killed, data wiped), then added back and
    /// started on an empty directory, catching up from the leader.
    Member,
}

impl Kind {
    pub fn parse(list: &str) -> Result<Vec<Kind>, String> {
        list.split(',')
            .filter(|s| !s.is_empty() && *s != "none")
            .map(|s| match s {
                "partition" => Ok(Kind::Partition),
                "kill" => Ok(Kind::Kill),
                "pause" => Ok(Kind::Pause),
                "netem" => Ok(Kind::Netem),
                "member" => Ok(Kind::Member),
                other => Err(format!(
                    "unknown nemesis {other:?} (partition, kill, pause, netem, member, none)"
                )),
            })
            .collect()
    }
}

/// One fault: when it began and ended, and what it was.
#[derive(Clone, Debug)]
pub struct Fault {
    pub from: Duration,
    pub to: Duration,
    pub what: String,
}

pub type Cell = Arc<Mutex<Cluster>>;

/// Runs faults of `kinds` until `until` (on [`oxcd_checker::clock::now`]'s
/// axis); returns them. Errors of the fault tools end the run.
pub async fn run(
    cluster: Cell,
    kinds: Vec<Kind>,
    until: Duration,
    mut rng: StdRng,
) -> Result<Vec<Fault>, String> {
    let now = oxcd_checker::clock::now;
    let mut log = Vec::new();
    if kinds.is_empty() {
        tokio::time::sleep(until.saturating_sub(now())).await;
        return Ok(log);
    }
    let (n, urls) = {
        let c = cluster.lock().expect("cluster lock");
        (c.nodes.len(), c.client_urls())
    };
    loop {
        let rest = Duration::from_millis(rng.gen_range(2_000..6_000));
        tokio::time::sleep(rest.min(until.saturating_sub(now()))).await;
        if now() + Duration::from_secs(3) >= until {
            break;
        }
        let kind = *kinds.choose(&mut rng).expect("non-empty");
        let hold = Duration::from_millis(rng.gen_range(3_000..12_000));
        let target = if rng.gen_bool(0.5) {
            leader(&urls).await.unwrap_or_else(|| rng.gen_range(0..n))
        } else {
            rng.gen_range(0..n)
        };
        let from = now();
        if kind == Kind::Member {
            match remove_member(&cluster, &urls, target).await {
                Ok(what) => {
                    println!("{:>7.1}s nemesis: {what}", from.as_secs_f64());
                    tokio::time::sleep(hold.min(until.saturating_sub(now()))).await;
                    let back = add_member(&cluster, &urls, target).await?;
                    let to = now();
                    println!("{:>7.1}s nemesis: {back}", to.as_secs_f64());
                    log.push(Fault { from, to, what });
                }
                // No quorum to remove it with (a fault just healed): try
                // again later; nothing changed.
                Err(e) => println!(
                    "{:>7.1}s nemesis: member removal refused: {e}",
                    from.as_secs_f64()
                ),
            }
            continue;
        }
        let what = {
            let mut c = cluster.lock().expect("cluster lock");
            match kind {
                Kind::Partition => {
                    let (pairs, what) = partition(n, target, &mut rng);
                    c.net.cut(&pairs)?;
                    what
                }
                Kind::Kill => {
                    c.kill(target);
                    format!("kill {}", c.nodes[target].name)
                }
                Kind::Pause => {
                    c.pause(target);
                    format!("pause {}", c.nodes[target].name)
                }
                Kind::Netem => {
                    let (delay, kbit, loss) = (
                        rng.gen_range(20..200),
                        rng.gen_range(64..1024),
                        rng.gen_range(1..15),
                    );
                    c.net.slow(delay, kbit, loss)?
                }
                Kind::Member => unreachable!("handled above"),
            }
        };
        println!("{:>7.1}s nemesis: {what}", from.as_secs_f64());
        tokio::time::sleep(hold.min(until.saturating_sub(now()))).await;
        {
            let mut c = cluster.lock().expect("cluster lock");
            match kind {
                Kind::Partition => c.net.heal()?,
                Kind::Kill => c.restart(target)?,
                Kind::Pause => c.resume(target),
                Kind::Netem => c.net.fast()?,
                Kind::Member => unreachable!("handled above"),
            }
        }
        let to = now();
        println!("{:>7.1}s nemesis: healed {what}", to.as_secs_f64());
        log.push(Fault { from, to, what });
    }
    Ok(log)
}

/// Removes node `target` from the cluster, then kills it and wipes its data.
async fn remove_member(cluster: &Cell, urls: &[String], target: usize) -> Result<String, String> {
    let (peer, name) = {
        let c = cluster.lock().expect("cluster lock");
        (c.peer_url_of(target), c.nodes[target].name.clone())
    };
    db::member_remove(urls, &peer).await?;
    cluster.lock().expect("cluster lock").wipe(target)?;
    Ok(format!("member {name} removed"))
}

/// Adds node `target` back and starts it on its empty directory; retries
/// until the cluster takes the addition (it may be electing).
async fn add_member(cluster: &Cell, urls: &[String], target: usize) -> Result<String, String> {
    let (peer, name) = {
        let c = cluster.lock().expect("cluster lock");
        (c.peer_url_of(target), c.nodes[target].name.clone())
    };
    let mut tries = 0;
    while let Err(e) = db::member_add(urls, &peer).await {
        tries += 1;
        if tries >= 60 {
            return Err(format!("member {name} could not be added back: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    cluster.lock().expect("cluster lock").join(target)?;
    Ok(format!("member {name} added back"))
}

/// The pairs to cut for one partition around `target`, and its name.
fn partition(n: usize, target: usize, rng: &mut StdRng) -> (Vec<(usize, usize)>, String) {
    let cross = |a: &[usize], b: &[usize]| -> Vec<(usize, usize)> {
        a.iter()
            .flat_map(|&x| b.iter().map(move |&y| (x, y)))
            .collect()
    };
    let mut others: Vec<usize> = (0..n).filter(|&x| x != target).collect();
    match rng.gen_range(0..3) {
        0 => (
            cross(&[target], &others),
            format!("partition: {} alone", names(&[target])),
        ),
        1 if others.len() >= 2 => {
            // A bridge: `target` sees everyone, the others split in two.
            others.shuffle(rng);
            let (a, b) = others.split_at(others.len() / 2);
            let what = format!(
                "partition: bridge {} between {} and {}",
                names(&[target]),
                names(a),
                names(b)
            );
            (cross(a, b), what)
        }
        _ => {
            let mut all: Vec<usize> = (0..n).collect();
            all.shuffle(rng);
            let k = rng.gen_range(1..n.max(2)).min(n);
            let (a, b) = all.split_at(k);
            (
                cross(a, b),
                format!("partition: {} | {}", names(a), names(b)),
            )
        }
    }
}

fn names(s: &[usize]) -> String {
    s.iter()
        .map(|x| format!("n{}", x + 1))
        .collect::<Vec<_>>()
        .join(",")
}
