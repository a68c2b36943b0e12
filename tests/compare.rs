//! `compare` on the shipped before/after pairs: the change each pair makes is found on the
//! right hop, and nothing else is called worse.

mod common;

use finscope::analysis::{compare, Comparison, Renames, Summary, Verdict, DEFAULT_THRESHOLD};
use finscope::pipeline::{self, Config};

fn summary(name: &str) -> Summary {
    pipeline::analyze(&[common::capture(name)], &Config::default(), &mut |_| {}).unwrap()
}

fn cmp(before: &str, after: &str) -> Comparison {
    compare(
        &summary(before),
        &summary(after),
        &Renames::default(),
        DEFAULT_THRESHOLD,
    )
}

fn verdict(c: &Comparison, name: &str) -> Verdict {
    c.endpoints
        .iter()
        .chain(&c.hosts)
        .find(|x| x.name == name)
        .unwrap_or_else(|| panic!("{name} not compared"))
        .verdict
}

#[test]
fn upstream_keepalive_improves_the_backend_hop() {
    let c = cmp(
        "nginx-default-upstream.pcap",
        "nginx-upstream-keepalive.pcap",
    );
    assert_eq!(c.overall, Verdict::Improved, "{c:#?}");
    assert_eq!(verdict(&c, "127.0.0.3:8887"), Verdict::Improved);
    assert_eq!(verdict(&c, "127.0.0.2:8080"), Verdict::Unchanged);
    assert_eq!(verdict(&c, "127.0.0.3"), Verdict::Improved);
    let ep = c
        .endpoints
        .iter()
        .find(|e| e.name == "127.0.0.3:8887")
        .unwrap();
    let tw = ep
        .figures
        .iter()
        .find(|f| f.name == "time_wait_per_request")
        .unwrap();
    assert_eq!((tw.before, tw.after), (Some(1.0), Some(0.2)));
    assert!(c.regressions().is_empty());
}

#[test]
fn health_check_block_fix_improves_the_backend_hop() {
    let c = cmp("healthcheck-no-keepalive.pcap", "healthcheck-fixed.pcap");
    assert_eq!(c.overall, Verdict::Improved, "{c:#?}");
    assert_eq!(verdict(&c, "127.0.0.3:8887"), Verdict::Improved);
    assert_eq!(verdict(&c, "127.0.0.2:8080"), Verdict::Unchanged);
}

#[test]
fn connection_pool_improves_the_client_host() {
    let c = cmp("client-no-pool.pcap", "client-pool.pcap");
    assert_eq!(c.overall, Verdict::Improved, "{c:#?}");
    assert_eq!(verdict(&c, "127.0.0.10"), Verdict::Improved);
    assert_eq!(verdict(&c, "127.0.0.3:8887"), Verdict::Improved);
}

#[test]
fn reversed_pair_regresses_and_small_samples_are_flagged() {
    let c = cmp(
        "nginx-upstream-keepalive.pcap",
        "nginx-default-upstream.pcap",
    );
    assert_eq!(c.overall, Verdict::Regressed);
    assert!(c
        .regressions()
        .iter()
        .any(|(n, f)| *n == "127.0.0.3:8887" && f.name == "time_wait_per_request"));
    let c = cmp("nginx-idle-timeout.pcap", "nginx-idle-timeout.pcap");
    assert_eq!(c.overall, Verdict::Unchanged);
    assert!(
        c.caveats.iter().any(|x| x.contains("only 5 connections")),
        "{:?}",
        c.caveats
    );
}

#[test]
fn renamed_endpoint_is_matched_with_map() {
    let mut r = Renames::default();
    r.endpoints.insert(
        "127.0.0.3:8887"
            .parse::<std::net::SocketAddr>()
            .map(|a| finscope::net::Endpoint::new(a.ip(), a.port()))
            .unwrap(),
        finscope::net::Endpoint::new("127.0.0.9".parse().unwrap(), 9000),
    );
    let c = compare(
        &summary("nginx-default-upstream.pcap"),
        &summary("nginx-upstream-keepalive.pcap"),
        &r,
        DEFAULT_THRESHOLD,
    );
    assert_eq!(verdict(&c, "127.0.0.9:9000"), Verdict::Gone);
    assert_eq!(verdict(&c, "127.0.0.3:8887"), Verdict::New);
}
