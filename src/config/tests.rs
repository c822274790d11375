use super::*;

fn p(args: &[&str]) -> Result<Config, ConfigError> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    match parse(&args, &BTreeMap::new())?.0 {
        Parsed::Run(c) => Ok(*c),
        other => panic!("{other:?}"),
    }
}

fn flag_err(args: &[&str]) -> String {
    match p(args).unwrap_err() {
        ConfigError::Flag(m) => m,
        other => panic!("{other:?}"),
    }
}

fn fatal(args: &[&str]) -> String {
    match p(args).unwrap_err() {
        ConfigError::Fatal(m) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn defaults_are_etcds() {
    let c = p(&[]).unwrap();
    assert_eq!(c.name, "default");
    assert_eq!(c.data_dir, "default.etcd");
    assert_eq!(c.wal_dir(), PathBuf::from("default.etcd/member/wal"));
    assert_eq!(c.listen_client_urls, vec!["http://localhost:2379"]);
    assert_eq!(
        c.initial_cluster,
        vec![("default".to_string(), "http://localhost:2380".to_string())]
    );
    assert_eq!(c.max_request_bytes, 1572864);
    assert_eq!(c.max_concurrent_streams, u32::MAX);
    assert_eq!(c.grpc_keepalive_min_time, Duration::from_secs(5));
    assert_eq!(c.grpc_keepalive_interval, Duration::from_secs(7200));
    assert_eq!(c.grpc_keepalive_timeout, Duration::from_secs(20));
    assert_eq!(c.cors, vec!["*"]);
}

#[test]
fn go_flag_syntax() {
    let c = p(&[
        "-name",
        "n1",
        "--data-dir=/x",
        "--debug",
        "--max-txn-ops",
        "7",
        "--wal-dir=/w",
    ])
    .unwrap();
    assert_eq!(
        (c.name.as_str(), c.data_dir.as_str(), c.max_txn_ops),
        ("n1", "/x", 7)
    );
    assert_eq!(c.log_level, "debug");
    assert_eq!(c.wal_dir(), PathBuf::from("/w"));
    assert_eq!(c.initial_cluster[0].0, "n1");
}

#[test]
fn errors_match_etcd() {
    assert_eq!(
        flag_err(&["--bogus"]),
        "flag provided but not defined: -bogus"
    );
    assert_eq!(
        flag_err(&["--quota-backend-bytes=abc"]),
        "invalid value \"abc\" for flag -quota-backend-bytes: parse error"
    );
    assert_eq!(flag_err(&["--name"]), "flag needs an argument: -name");
    assert_eq!(
        flag_err(&["--initial-cluster-state=old"]),
        "invalid value \"old\" for flag -initial-cluster-state: invalid value"
    );
    assert_eq!(
        fatal(&["foo", "--name", "x"]),
        "error verifying flags, 'foo' is not a valid flag. See 'etcd --help'."
    );
}

/// Every flag of etcd 3.4's `--help` parses (kubeadm passes some of them to
/// every member), with etcd's value syntax.
#[test]
fn every_etcd_34_flag_is_known() {
    let names = include_str!("../../tests/data/etcd34-flags.txt");
    let mut count = 0;
    for name in names.lines().filter(|l| !l.is_empty()) {
        let flag = flags::find(name).unwrap_or_else(|| panic!("--{name} unknown"));
        let args = [format!("--{name}={}", flag.default)];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(e) = p(&args) {
            panic!("--{name} at its default refused: {e:?}");
        }
        count += 1;
    }
    assert!(count >= 80, "{count} flags");
}

#[test]
fn ignored_flags_warn_and_refused_flags_name_the_feature() {
    let args: Vec<String> = ["--max-wals=9", "--pre-vote"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (_, warnings) = parse(&args, &BTreeMap::new()).unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("compacts its own WAL"), "{warnings:?}");
    assert!(fatal(&["--discovery=https://discovery.etcd.io/x"])
        .contains("discovery service is not built"));
    assert!(fatal(&[
        "--auto-compaction-mode=daily",
        "--auto-compaction-retention=1"
    ])
    .contains("unknown auto-compaction-mode \"daily\""));
    // At their defaults they change nothing and pass.
    p(&["--client-cert-auth=false", "--cert-file=", "--proxy=off"]).unwrap();
    let (_, w) = parse(&["-v".to_string()], &BTreeMap::new()).unwrap();
    assert_eq!(w, vec!["flag \"-v\" is no longer supported - ignoring."]);
}

#[test]
fn env_fills_unset_flags() {
    let mut env = BTreeMap::new();
    env.insert("ETCD_NAME".to_string(), "fromenv".to_string());
    env.insert("ETCD_DATA_DIR".to_string(), "/d".to_string());
    env.insert(
        "ETCD_GRPC_KEEPALIVE_MIN_TIME".to_string(),
        "1m30s".to_string(),
    );
    let args = vec!["--data-dir=/flag".to_string()];
    let (Parsed::Run(c), warnings) = parse(&args, &env).unwrap() else {
        panic!()
    };
    assert_eq!((c.name.as_str(), c.data_dir.as_str()), ("fromenv", "/flag"));
    assert_eq!(c.grpc_keepalive_min_time, Duration::from_secs(90));
    assert_eq!(warnings.len(), 1);
}

#[test]
fn help_lists_every_visible_flag() {
    let h = help();
    assert!(h.starts_with("\nMember:\n  --name 'default'\n"));
    assert!(h.contains("  --max-concurrent-streams 'math.MaxUint32'\n"));
    assert!(!h.contains("--config-file"));
}

#[test]
fn tls_flags_and_env() {
    let mut env = BTreeMap::new();
    env.insert("ETCD_PEER_CERT_FILE".to_string(), "/p.crt".to_string());
    env.insert("ETCD_PEER_CLIENT_CERT_AUTH".to_string(), "true".to_string());
    let args: Vec<String> = [
        "--cert-file=/c.crt",
        "--key-file=/c.key",
        "--trusted-ca-file=/ca.crt",
        "--client-cert-auth",
        "--client-crl-file=/c.crl",
        "--auto-tls",
        "--peer-cert-allowed-cn=etcd-peer",
        "--experimental-peer-skip-client-san-verification",
        "--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        "--listen-client-urls=https://127.0.0.1:2379",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (Parsed::Run(c), _) = parse(&args, &env).unwrap() else {
        panic!()
    };
    assert_eq!(c.listen_client_urls, vec!["https://127.0.0.1:2379"]);
    let t = &c.client_tls;
    assert_eq!(
        (
            t.cert_file.as_str(),
            t.key_file.as_str(),
            t.trusted_ca_file.as_str()
        ),
        ("/c.crt", "/c.key", "/ca.crt")
    );
    assert!(t.client_cert_auth && !t.check_client_san && c.client_auto_tls);
    assert_eq!(t.crl_file, "/c.crl");
    assert_eq!(t.cipher_suites.len(), 2);
    let p = &c.peer_tls;
    assert_eq!(p.cert_file, "/p.crt");
    assert!(p.client_cert_auth && !p.check_client_san && !c.peer_auto_tls);
    assert_eq!(p.allowed_cn, "etcd-peer");
    assert_eq!(p.cipher_suites, t.cipher_suites);
    // The peer port checks client SANs unless told not to, as etcd does.
    assert!(p_default_peer_checks_san());
    assert_eq!(
        fatal(&["--cipher-suites=FOO"]),
        "unexpected TLS cipher suite \"FOO\""
    );
    assert!(
        fatal(&["--cipher-suites=TLS_RSA_WITH_AES_128_CBC_SHA"]).contains("not offered by oxcd")
    );
}

fn p_default_peer_checks_san() -> bool {
    p(&[]).unwrap().peer_tls.check_client_san
}

#[test]
fn dns_discovery_replaces_the_default_initial_cluster() {
    let c = p(&["--discovery-srv=example.test"]).unwrap();
    assert_eq!(
        (c.discovery_srv.as_str(), c.initial_cluster.len()),
        ("example.test", 0)
    );
    // The service name alone clears it too (etcd then finds no member).
    let c = p(&["--discovery-srv-name=blue"]).unwrap();
    assert_eq!(
        (c.discovery_srv_name.as_str(), c.initial_cluster.len()),
        ("blue", 0)
    );
    assert_eq!(
        fatal(&["--discovery-srv=example.test", "--initial-cluster=a=http://a:2380"]),
        "error verifying flags, multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\". See 'etcd --help'."
    );
    // An empty --initial-cluster is no second way.
    assert!(p(&["--discovery-srv=example.test", "--initial-cluster="]).is_ok());
}
