//! Generated protobuf types and gRPC stubs for etcd's v3 API (from `proto/`).
#![allow(clippy::all, missing_docs, rustdoc::all)]

pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}
pub mod leasepb {
    tonic::include_proto!("leasepb");
}
pub mod authpb {
    tonic::include_proto!("authpb");
}
pub mod membershippb {
    tonic::include_proto!("membershippb");
}
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}
pub mod v3lockpb {
    tonic::include_proto!("v3lockpb");
}
pub mod v3electionpb {
    tonic::include_proto!("v3electionpb");
}
pub mod oxcdpeer {
    tonic::include_proto!("oxcdpeer");
}
