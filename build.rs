//! Compiles `proto/` with a protoc binary shipped by a crate, so a fresh machine
//! needs nothing from apt.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let protos = [
        "proto/mvccpb/kv.proto",
        "proto/leasepb/lease.proto",
        "proto/authpb/auth.proto",
        "proto/etcdserverpb/rpc.proto",
        "proto/etcdserverpb/etcdserver.proto",
        "proto/membershippb/membership.proto",
        "proto/etcdserverpb/raft_internal.proto",
        "proto/v3lockpb/v3lock.proto",
        "proto/v3electionpb/v3election.proto",
        "proto/oxcdpeer/peer.proto",
    ];
    // The descriptors ride in the binary for the JSON gateway's transcoding.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_build::configure()
        .file_descriptor_set_path(out.join("oxcd_descriptor.bin"))
        .compile_protos(&protos, &["proto"])?;
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}
