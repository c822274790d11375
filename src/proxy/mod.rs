//! etcd's proxies: `etcd gateway` (a TCP proxy, `tcpproxy`) and, later,
//! `etcd grpc-proxy`.

pub mod gateway;
pub mod tcpproxy;
