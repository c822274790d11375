//! `etcdctl`: etcd's v3 command-line client, as oxcd ships it.

fn main() {
    std::process::exit(oxcd::ctl::main());
}
