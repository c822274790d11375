//! The cluster: one server process per node, in the node's namespace, all
//! started with the same etcd flags whichever binary `--server` names. The
//! processes die with the harness (`PR_SET_PDEATHSIG`), so even a harness
//! killed by SIGKILL leaves none behind.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oxcd::pb::etcdserverpb::cluster_client::ClusterClient;
use oxcd::pb::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd::pb::etcdserverpb::{
    MemberAddRequest, MemberListRequest, MemberRemoveRequest, StatusRequest,
};

use crate::net::Net;

pub struct Node {
    pub name: String,
    pub data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    pub paused: bool,
}

pub struct Cluster {
    server: PathBuf,
    /// Flags beyond the cluster's (a workload's needs).
    extra: Vec<String>,
    pub net: Net,
    pub nodes: Vec<Node>,
    token: String,
    /// Nodes found dead by a fault before it acted: `(name, status)`.
    crashed: Vec<(String, String)>,
}

impl Cluster {
    /// Creates the network and starts every node.
    pub fn start(
        server: &Path,
        nodes: usize,
        dir: &Path,
        extra: &[&str],
    ) -> Result<Cluster, String> {
        let net = Net::create(nodes)?;
        let token = format!("oxj{}", net.k);
        let nodes = (0..nodes)
            .map(|i| Node {
                name: format!("n{}", i + 1),
                data_dir: dir.join(format!("n{}.data", i + 1)),
                log: dir.join(format!("n{}.log", i + 1)),
                child: None,
                paused: false,
            })
            .collect();
        let mut c = Cluster {
            server: server.to_path_buf(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            net,
            nodes,
            token,
            crashed: Vec::new(),
        };
        for i in 0..c.nodes.len() {
            c.spawn(i)?;
        }
        Ok(c)
    }

    pub fn client_url(&self, i: usize) -> String {
        format!("http://{}:2379", self.net.ip(i))
    }

    pub fn client_urls(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.client_url(i)).collect()
    }

    fn peer_url(&self, i: usize) -> String {
        format!("http://{}:2380", self.net.ip(i))
    }

    fn spawn(&mut self, i: usize) -> Result<(), String> {
        self.spawn_as(i, "new")
    }

    /// Starts node `i` with `--initial-cluster-state state` (`existing` for
    /// a member added back on an empty data directory).
    fn spawn_as(&mut self, i: usize, state: &str) -> Result<(), String> {
        let initial_cluster: Vec<String> = (0..self.nodes.len())
            .map(|j| format!("{}={}", self.nodes[j].name, self.peer_url(j)))
            .collect();
        let node = &self.nodes[i];
        let log = File::options()
            .create(true)
            .append(true)
            .open(&node.log)
            .map_err(|e| format!("{}: {e}", node.log.display()))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.net.ns(i)])
            .arg(&self.server)
            .args(["--name", &node.name])
            .arg("--data-dir")
            .arg(&node.data_dir)
            .args(["--listen-client-urls", &self.client_url(i)])
            .args(["--advertise-client-urls", &self.client_url(i)])
            .args(["--listen-peer-urls", &self.peer_url(i)])
            .args(["--initial-advertise-peer-urls", &self.peer_url(i)])
            .args(["--initial-cluster", &initial_cluster.join(",")])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", &self.token])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        // SAFETY: prctl in the child between fork and exec; `ip netns exec`
        // execs the server, which keeps the death signal.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("start {}: {e}", node.name))?;
        let node = &mut self.nodes[i];
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    fn signal(&self, i: usize, sig: libc::c_int) {
        if let Some(c) = &self.nodes[i].child {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as libc::pid_t, sig);
            }
        }
    }

    /// SIGKILL, and reap. A node that had already exited by itself is
    /// recorded as a crash first (the fault must not hide it).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            if let Ok(Some(status)) = c.try_wait() {
                self.crashed
                    .push((self.nodes[i].name.clone(), status.to_string()));
            } else {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        self.nodes[i].paused = false;
    }

    /// Starts a killed node again on its data directory.
    pub fn restart(&mut self, i: usize) -> Result<(), String> {
        if self.nodes[i].child.is_none() {
            self.spawn(i)?;
        }
        Ok(())
    }

    /// Kills node `i` and empties its data directory: it left the cluster.
    /// (A removed member may have stopped by itself already, as it should.)
    pub fn wipe(&mut self, i: usize) -> Result<(), String> {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.nodes[i].paused = false;
        let d = &self.nodes[i].data_dir;
        if d.exists() {
            std::fs::remove_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        Ok(())
    }

    /// Starts node `i`, added back to the cluster, on an empty directory.
    pub fn join(&mut self, i: usize) -> Result<(), String> {
        self.spawn_as(i, "existing")
    }

    /// Node `i`'s peer URL, as the cluster lists it.
    pub fn peer_url_of(&self, i: usize) -> String {
        self.peer_url(i)
    }

    pub fn pause(&mut self, i: usize) {
        self.signal(i, libc::SIGSTOP);
        self.nodes[i].paused = true;
    }

    pub fn resume(&mut self, i: usize) {
        self.signal(i, libc::SIGCONT);
        self.nodes[i].paused = false;
    }

    /// Nodes that exited on their own (a crash is a finding), with status:
    /// those found by a fault and those found now.
    pub fn exited(&mut self) -> Vec<(String, String)> {
        let mut out = std::mem::take(&mut self.crashed);
        for n in &mut self.nodes {
            if let Some(c) = &mut n.child {
                if let Ok(Some(status)) = c.try_wait() {
                    out.push((n.name.clone(), status.to_string()));
                    n.child = None;
                }
            }
        }
        out
    }

    /// Undoes every fault: processes resumed and restarted, links healed.
    pub fn heal_all(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].paused {
                self.resume(i);
            }
            self.restart(i)?;
        }
        self.net.heal()?;
        self.net.fast()
    }
}

impl Cluster {
    /// Stops every process, then removes the network (again: nothing).
    pub fn teardown(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].paused {
                self.resume(i);
            }
            self.kill(i);
        }
        self.net.teardown();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// The node `urls` agree leads, if one answers within a second.
pub async fn leader(urls: &[String]) -> Option<usize> {
    for url in urls {
        let ask = async {
            let mut c = MaintenanceClient::connect(url.clone()).await.ok()?;
            let s = c.status(StatusRequest {}).await.ok()?.into_inner();
            Some((s.leader, s.header?.member_id))
        };
        let Ok(Some((leader, _))) = tokio::time::timeout(Duration::from_secs(1), ask).await else {
            continue;
        };
        // Map the leader's member id to a node through each node's own id.
        for (j, u) in urls.iter().enumerate() {
            let id = async {
                let mut c = MaintenanceClient::connect(u.clone()).await.ok()?;
                let s = c.status(StatusRequest {}).await.ok()?.into_inner();
                s.header.map(|h| h.member_id)
            };
            if let Ok(Some(id)) = tokio::time::timeout(Duration::from_secs(1), id).await {
                if id == leader {
                    return Some(j);
                }
            }
        }
    }
    None
}

/// Asks each of `urls` in turn, with a 3 s bound each, until one answers.
async fn cluster_call<T, F, Fut>(urls: &[String], call: F) -> Result<T, String>
where
    F: Fn(ClusterClient<tonic::transport::Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut last = String::from("no member answered");
    for url in urls {
        let ask = async {
            let c = ClusterClient::connect(url.clone())
                .await
                .map_err(|e| e.to_string())?;
            call(c).await.map_err(|s| s.message().to_string())
        };
        match tokio::time::timeout(Duration::from_secs(3), ask).await {
            Ok(Ok(r)) => return Ok(r.into_inner()),
            Ok(Err(e)) => last = e,
            Err(_) => last = format!("{url}: timed out"),
        }
    }
    Err(last)
}

/// Whether the cluster lists a member with `peer_url` (a linearizable
/// list), or `None` if no member answered.
async fn has_member(urls: &[String], peer_url: &str) -> Option<bool> {
    let list = cluster_call(urls, |mut c| async move {
        c.member_list(MemberListRequest { linearizable: true })
            .await
    })
    .await
    .ok()?;
    Some(
        list.members
            .iter()
            .any(|m| m.peer_ur_ls.iter().any(|u| u == peer_url)),
    )
}

/// Removes the member whose peer URL is `peer_url`. Ok when it is gone,
/// whichever call removed it: a removal whose answer was lost (a timeout,
/// then "member not found" on the retry) still counts, decided by listing
/// the members again.
pub async fn member_remove(urls: &[String], peer_url: &str) -> Result<(), String> {
    let list = cluster_call(urls, |mut c| async move {
        c.member_list(MemberListRequest { linearizable: true })
            .await
    })
    .await?;
    let id = list
        .members
        .iter()
        .find(|m| m.peer_ur_ls.iter().any(|u| u == peer_url))
        .map(|m| m.id)
        .ok_or(format!("no member with peer URL {peer_url}"))?;
    let removed = cluster_call(urls, |mut c| async move {
        c.member_remove(MemberRemoveRequest { id }).await
    })
    .await;
    match removed {
        Ok(_) => Ok(()),
        Err(e) => match has_member(urls, peer_url).await {
            Some(false) => Ok(()),
            _ => Err(e),
        },
    }
}

/// Adds a member with `peer_url` (not yet started). Ok when the cluster
/// lists it, whichever call added it (see [`member_remove`]).
pub async fn member_add(urls: &[String], peer_url: &str) -> Result<(), String> {
    let peer = peer_url.to_string();
    let added = cluster_call(urls, |mut c| {
        let peer = peer.clone();
        async move {
            c.member_add(MemberAddRequest {
                peer_ur_ls: vec![peer],
                is_learner: false,
            })
            .await
        }
    })
    .await;
    match added {
        Ok(_) => Ok(()),
        Err(e) => match has_member(urls, peer_url).await {
            Some(true) => Ok(()),
            _ => Err(e),
        },
    }
}
