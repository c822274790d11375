//! The run's private network: one network namespace per node, joined by a
//! bridge that lives in a hub namespace of its own, and a veth from the
//! harness's namespace into the hub so clients reach every node:
//!
//! ```text
//!   harness (10.77.K.254) ── oxjKc ══ c0 ─┐
//!                                         br0 (ns oxjKh)
//!   node i (ns oxjKnI, eth0 10.77.K.I) ══ vI ─┘
//! ```
//!
//! Faults change only the node namespaces: partitions are iptables rules
//! dropping a peer's packets at INPUT, slow links a qdisc on eth0 and
//! random drops at OUTPUT. Nothing is added to the harness's own namespace but the one veth,
//! which disappears with the hub; deleting the namespaces removes every rule
//! and qdisc with them. The bridge is in a namespace of its own because the
//! host's FORWARD chain (Docker sets it to DROP) would filter bridged frames
//! there.

use std::path::Path;
use std::process::Command;

/// Every namespace this harness creates starts with this.
pub const PREFIX: &str = "oxj";

/// Runs a command; its stderr as the error.
pub fn run(cmd: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .map_err(|e| format!("{}: {e}", cmd.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

pub struct Net {
    /// The run's number K: addresses 10.77.K.x, namespaces oxjK…
    pub k: u8,
    pub nodes: usize,
    namespaces: Vec<String>,
}

impl Net {
    /// Creates the namespaces, bridge and links for `nodes` nodes.
    pub fn create(nodes: usize) -> Result<Net, String> {
        assert!((1..=9).contains(&nodes), "1 to 9 nodes");
        // Claim the first free K: `ip netns add` fails if the hub exists.
        let mut net = None;
        for k in 1..=250u8 {
            if run(&["ip", "netns", "add", &format!("{PREFIX}{k}h")]).is_ok() {
                net = Some(Net {
                    k,
                    nodes,
                    namespaces: vec![format!("{PREFIX}{k}h")],
                });
                break;
            }
        }
        let mut net = net.ok_or("no free network number (run --cleanup?)")?;
        // Marks the network as this process's for --cleanup.
        let _ = std::fs::write(pid_file(net.k), std::process::id().to_string());
        // On any error below, Drop removes what was made.
        net.build()?;
        Ok(net)
    }

    fn build(&mut self) -> Result<(), String> {
        let hub = self.hub();
        run(&["ip", "-n", &hub, "link", "set", "lo", "up"])?;
        run(&["ip", "-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        run(&["ip", "-n", &hub, "link", "set", "br0", "up"])?;
        for i in 0..self.nodes {
            let ns = self.ns(i);
            run(&["ip", "netns", "add", &ns])?;
            self.namespaces.push(ns.clone());
            let port = format!("v{}", i + 1);
            run(&[
                "ip", "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port,
                "netns", &hub,
            ])?;
            run(&[
                "ip", "-n", &hub, "link", "set", &port, "master", "br0", "up",
            ])?;
            let addr = format!("{}/24", self.ip(i));
            run(&["ip", "-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        }
        let host_end = format!("{PREFIX}{}c", self.k);
        run(&[
            "ip", "link", "add", &host_end, "type", "veth", "peer", "name", "c0", "netns", &hub,
        ])?;
        run(&["ip", "-n", &hub, "link", "set", "c0", "master", "br0", "up"])?;
        let addr = format!("{}/24", self.client_ip());
        run(&["ip", "addr", "add", &addr, "dev", &host_end])?;
        run(&["ip", "link", "set", &host_end, "up"])?;
        Ok(())
    }

    fn hub(&self) -> String {
        format!("{PREFIX}{}h", self.k)
    }

    /// Node `i`'s namespace (nodes count from 0).
    pub fn ns(&self, i: usize) -> String {
        format!("{PREFIX}{}n{}", self.k, i + 1)
    }

    pub fn ip(&self, i: usize) -> String {
        format!("10.77.{}.{}", self.k, i + 1)
    }

    /// The harness's address on the run's network.
    pub fn client_ip(&self) -> String {
        format!("10.77.{}.254", self.k)
    }

    fn in_ns(&self, i: usize, cmd: &[&str]) -> Result<(), String> {
        let ns = self.ns(i);
        let mut full = vec!["ip", "netns", "exec", &ns];
        full.extend_from_slice(cmd);
        run(&full)
    }

    /// Cuts the links between each pair: each side drops the other's packets.
    pub fn cut(&self, pairs: &[(usize, usize)]) -> Result<(), String> {
        for &(a, b) in pairs {
            for (x, y) in [(a, b), (b, a)] {
                let src = self.ip(y);
                self.in_ns(x, &["iptables", "-A", "INPUT", "-s", &src, "-j", "DROP"])?;
            }
        }
        Ok(())
    }

    /// Removes every cut.
    pub fn heal(&self) -> Result<(), String> {
        for i in 0..self.nodes {
            self.in_ns(i, &["iptables", "-F", "INPUT"])?;
        }
        Ok(())
    }

    /// Slow, lossy links on every node: netem's delay and loss where the
    /// kernel has it; otherwise (this project's Firecracker kernels lack
    /// `sch_netem`) a token bucket at `kbit` kbit/s, whose queue is the
    /// delay, and iptables dropping `loss_pct`% of outgoing packets.
    pub fn slow(&self, delay_ms: u32, kbit: u32, loss_pct: u32) -> Result<String, String> {
        let (delay, jitter, loss) = (
            format!("{delay_ms}ms"),
            format!("{}ms", delay_ms / 2),
            format!("{loss_pct}%"),
        );
        let netem = [
            "tc", "qdisc", "replace", "dev", "eth0", "root", "netem", "delay", &delay, &jitter,
            "loss", &loss,
        ];
        if self.in_ns(0, &netem).is_ok() {
            for i in 1..self.nodes {
                self.in_ns(i, &netem)?;
            }
            return Ok(format!("netem {delay} ±{jitter}, {loss} loss"));
        }
        let rate = format!("{kbit}kbit");
        let p = format!("{:.2}", f64::from(loss_pct) / 100.0);
        for i in 0..self.nodes {
            self.in_ns(
                i,
                &[
                    "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", &rate, "burst",
                    "16kbit", "latency", "500ms",
                ],
            )?;
            self.in_ns(
                i,
                &[
                    "iptables",
                    "-A",
                    "OUTPUT",
                    "-o",
                    "eth0",
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &p,
                    "-j",
                    "DROP",
                ],
            )?;
        }
        Ok(format!("slow links: {rate}, {loss} loss"))
    }

    /// Undoes [`Net::slow`].
    pub fn fast(&self) -> Result<(), String> {
        for i in 0..self.nodes {
            // No qdisc to delete is not an error worth failing on.
            let _ = self.in_ns(i, &["tc", "qdisc", "del", "dev", "eth0", "root"]);
            self.in_ns(i, &["iptables", "-F", "OUTPUT"])?;
        }
        Ok(())
    }
}

impl Net {
    /// Deletes the harness's veth and every namespace made (again:
    /// nothing). The veth goes explicitly: a deleted namespace is only
    /// destroyed, taking its interfaces along, once nothing refers to it.
    pub fn teardown(&mut self) {
        if self.namespaces.is_empty() {
            return;
        }
        let _ = run(&["ip", "link", "del", &format!("{PREFIX}{}c", self.k)]);
        let _ = std::fs::remove_file(pid_file(self.k));
        // Nodes first, the hub last.
        while let Some(ns) = self.namespaces.pop() {
            if let Err(e) = run(&["ip", "netns", "del", &ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Where a run records the pid of the harness that owns network K.
fn pid_file(k: u8) -> String {
    format!("/run/{PREFIX}{k}.pid")
}

/// Whether the harness that made network `k` still runs.
fn owner_alive(k: &str) -> bool {
    std::fs::read_to_string(format!("/run/{PREFIX}{k}.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

/// Removes the networks harnesses left behind (killed before they could
/// clean up): every `oxjK…` group whose harness is gone (its pid file names
/// no live process) and none of whose namespaces holds a process. Returns
/// how many namespaces went.
pub fn cleanup_stale() -> Result<usize, String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map_err(|e| e.to_string())?;
    let mut groups: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() || !rest[digits.len()..].starts_with(['h', 'n']) {
            continue;
        }
        groups.entry(digits).or_default().push(name.to_string());
    }
    let mut n = 0;
    for (k, names) in &groups {
        let busy = owner_alive(k)
            || names.iter().any(|ns| {
                Command::new("ip")
                    .args(["netns", "pids", ns])
                    .output()
                    .is_ok_and(|o| !o.stdout.is_empty())
            });
        if busy {
            continue;
        }
        // Node namespaces first, the hub last (it holds the bridge).
        let mut names = names.clone();
        names.sort_by_key(|ns| ns.ends_with('h'));
        for ns in &names {
            run(&["ip", "netns", "del", ns])?;
            n += 1;
        }
        let _ = run(&["ip", "link", "del", &format!("{PREFIX}{k}c")]);
        let _ = std::fs::remove_file(format!("/run/{PREFIX}{k}.pid"));
    }
    Ok(n)
}
