//! The shipped real captures (made by captures/make-captures.sh from nginx, a python backend,
//! curl and tcpdump) give the verdicts their scenarios imply, as cross-checked with tshark
//! and `ss` in captures/README.md.

use std::net::IpAddr;

use finscope::analysis::{CloseCounts, Summary};
use finscope::pipeline::{self, Config};
use finscope::tcp::{CloseKind, ConnRecord, Party};

mod common;

fn path(name: &str) -> String {
    common::capture(name)
}

fn analyze(names: &[&str]) -> Summary {
    let paths: Vec<String> = names.iter().map(|n| path(n)).collect();
    pipeline::analyze(&paths, &Config::default(), &mut |_| {}).expect("capture reads")
}

fn records(name: &str) -> Vec<ConnRecord> {
    common::records_of(&path(name))
}

fn endpoint<'a>(s: &'a Summary, ep: &str) -> &'a CloseCounts {
    &s.endpoints
        .iter()
        .find(|e| e.endpoint.to_string() == ep)
        .unwrap_or_else(|| panic!("no endpoint {ep} in {:?}", s.endpoints))
        .counts
}

fn host_tw(s: &Summary, host: &str) -> u64 {
    let ip: IpAddr = host.parse().unwrap();
    s.hosts
        .iter()
        .find(|h| h.host == Some(ip))
        .map_or(0, |h| h.time_wait)
}

/// (connections, closed by client, closed by server, simultaneous, TIME-WAIT on client, on server)
fn shape(c: &CloseCounts) -> (u64, u64, u64, u64, u64, u64) {
    (
        c.connections,
        c.closed_by_client,
        c.closed_by_server,
        c.closed_simultaneously,
        c.time_wait_on_client,
        c.time_wait_on_server,
    )
}

#[test]
fn nginx_default_upstream_backend_mostly_closes_first() {
    let s = analyze(&["nginx-default-upstream.pcap"]);
    assert_eq!(s.totals.counts.connections, 40);
    assert_eq!(shape(endpoint(&s, "127.0.0.2:8080")), (20, 20, 0, 0, 20, 0));
    assert_eq!(shape(endpoint(&s, "127.0.0.3:8887")), (20, 6, 14, 0, 6, 14));
    assert_eq!(host_tw(&s, "127.0.0.10"), 20);
    assert_eq!(host_tw(&s, "127.0.0.3"), 14);
    assert_eq!(host_tw(&s, "127.0.0.2"), 6);
    // The streams nginx closed first, as tshark shows them.
    let nginx_first: Vec<u64> = records("nginx-default-upstream.pcap")
        .iter()
        .filter(|r| r.server.port == 8887 && r.closer == Some(Party::Client))
        .map(|r| r.stream)
        .collect();
    assert_eq!(nginx_first, [5, 15, 17, 21, 27, 39]);
    assert!(
        s.data_quality.anomalies.is_empty(),
        "{:?}",
        s.data_quality.anomalies
    );
}

#[test]
fn nginx_upstream_keepalive_backend_closes_idle_connections() {
    let s = analyze(&["nginx-upstream-keepalive.pcap"]);
    assert_eq!(shape(endpoint(&s, "127.0.0.2:8080")), (20, 20, 0, 0, 20, 0));
    assert_eq!(shape(endpoint(&s, "127.0.0.3:8887")), (4, 0, 4, 0, 0, 4));
    let upstream: Vec<u64> = records("nginx-upstream-keepalive.pcap")
        .iter()
        .filter(|r| r.server.port == 8887)
        .map(|r| r.stream)
        .collect();
    assert_eq!(upstream, [4, 5, 6, 7]);
}

#[test]
fn nginx_keepalive_timeout_0_races_with_curl() {
    let s = analyze(&["nginx-keepalive-timeout-0.pcap"]);
    assert_eq!(shape(endpoint(&s, "127.0.0.2:8080")), (20, 15, 5, 0, 15, 5));
    let server_first: Vec<u64> = records("nginx-keepalive-timeout-0.pcap")
        .iter()
        .filter(|r| r.closer == Some(Party::Server))
        .map(|r| r.stream)
        .collect();
    assert_eq!(server_first, [0, 8, 12, 13, 16]);
}

#[test]
fn nginx_keepalive_timeout_0_waiting_client_leaves_time_wait_on_nginx() {
    let s = analyze(&["nginx-keepalive-timeout-0-wait-eof.pcap"]);
    assert_eq!(shape(endpoint(&s, "127.0.0.2:8080")), (10, 0, 10, 0, 0, 10));
    assert_eq!(host_tw(&s, "127.0.0.2"), 10);
    assert_eq!(host_tw(&s, "127.0.0.10"), 0);
}

#[test]
fn nginx_idle_timeout_server_closes_after_idle() {
    let recs = records("nginx-idle-timeout.pcap");
    assert_eq!(recs.len(), 5);
    for r in &recs {
        assert_eq!(r.closer, Some(Party::Server), "stream {}", r.stream);
        assert_eq!(r.time_wait, Some(Party::Server));
        assert_eq!(r.close, CloseKind::Fin);
        // nginx's FIN came 2 s after the response (keepalive_timeout 2s).
        let fin = r.first_fin.expect("a FIN").ts;
        let idle = fin.since(r.side(finscope::net::Side::Server).last_payload_ts.unwrap());
        assert!((1.9..2.2).contains(&idle.as_secs_f64()), "idle {idle:?}");
    }
}

#[test]
fn rst_linger0_client_aborts_without_time_wait() {
    let s = analyze(&["rst-linger0.pcap"]);
    let c = endpoint(&s, "127.0.0.3:8887");
    assert_eq!(shape(c), (10, 10, 0, 0, 0, 0));
    assert_eq!(
        (c.rst, c.aborted_by_client, c.resets_by_client),
        (10, 10, 10)
    );
    for r in records("rst-linger0.pcap") {
        assert_eq!(r.conn_state, "RSTO");
        assert_eq!(r.sides[0].packets + r.sides[1].packets, 10);
    }
}

#[test]
fn tuple_reuse_makes_ten_connections_on_one_tuple() {
    let recs = records("tuple-reuse.pcap");
    assert_eq!(recs.len(), 10);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.stream, i as u64);
        assert_eq!(r.client.to_string(), "127.0.0.10:40000");
        assert_eq!(r.closer, Some(Party::Server));
        assert_eq!(r.time_wait, Some(Party::Server));
        assert_eq!(r.sides[0].packets + r.sides[1].packets, 12);
    }
    let s = analyze(&["tuple-reuse.pcap"]);
    assert_eq!(s.data_quality.tuple_reuses, 9);
}

#[test]
fn ipv6_client_closes_time_wait_on_shared_host() {
    let s = analyze(&["ipv6.pcap"]);
    assert_eq!(shape(endpoint(&s, "[::1]:8080")), (10, 10, 0, 0, 10, 0));
    assert_eq!(host_tw(&s, "::1"), 10);
}

#[test]
fn any_sll2_reads_linux_cooked_v2() {
    let s = analyze(&["any-sll2.pcap"]);
    assert_eq!(
        s.captures[0]
            .info
            .linktypes
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [276]
    );
    assert_eq!(shape(endpoint(&s, "127.0.0.2:8080")), (10, 10, 0, 0, 10, 0));
    assert_eq!(shape(endpoint(&s, "127.0.0.3:8887")), (10, 6, 4, 0, 6, 4));
    assert!(
        s.data_quality.skipped.is_empty(),
        "{:?}",
        s.data_quality.skipped
    );
}

#[test]
fn pcapng_from_dumpcap() {
    let s = analyze(&["pcapng-dumpcap.pcapng"]);
    assert_eq!(s.data_quality.packets, 44);
    assert_eq!(shape(endpoint(&s, "127.0.0.3:8887")), (2, 2, 0, 0, 2, 0));
}

#[test]
fn truncated_capture_gives_results_up_to_the_cut_and_a_warning() {
    let s = analyze(&["truncated.pcap"]);
    assert_eq!(s.data_quality.packets, 144);
    assert_eq!(s.captures[0].info.truncated_at, Some(15353));
    let c = endpoint(&s, "127.0.0.2:8080");
    assert_eq!(shape(c), (15, 10, 4, 0, 10, 4));
    assert_eq!(c.still_open, 1);
    assert_eq!(s.data_quality.warnings.len(), 1);
    assert!(s.data_quality.warnings[0].contains("15353"));
}

#[test]
fn rotated_set_is_read_in_time_order() {
    // Given in reverse order, two captures are still read oldest first, as one stream.
    let s = analyze(&[
        "nginx-upstream-keepalive.pcap",
        "nginx-default-upstream.pcap",
    ]);
    let firsts: Vec<_> = s.captures.iter().map(|c| c.info.first_ts).collect();
    assert!(firsts[0] < firsts[1]);
    assert_eq!(s.totals.counts.connections, 40 + 24);
}

/// TIME-WAIT held at the end of each capture, per host, as the kernel reported it
/// (`ss -Htan state time-wait` right after the capture, captures/README.md).
#[test]
fn time_wait_at_end_matches_what_the_kernel_held() {
    let cases: &[(&str, &[(&str, u64)])] = &[
        (
            "nginx-default-upstream.pcap",
            &[("127.0.0.10", 20), ("127.0.0.3", 14), ("127.0.0.2", 6)],
        ),
        (
            "nginx-upstream-keepalive.pcap",
            &[("127.0.0.10", 20), ("127.0.0.3", 4)],
        ),
        (
            "nginx-keepalive-timeout-0.pcap",
            &[("127.0.0.10", 15), ("127.0.0.2", 5)],
        ),
        (
            "nginx-keepalive-timeout-0-wait-eof.pcap",
            &[("127.0.0.2", 10)],
        ),
        ("nginx-idle-timeout.pcap", &[("127.0.0.2", 5)]),
        (
            "client-connection-close.pcap",
            &[("127.0.0.3", 17), ("127.0.0.10", 3)],
        ),
        ("rst-linger0.pcap", &[("127.0.0.10", 0), ("127.0.0.3", 0)]),
        // Ten server-side closes on one 4-tuple, each TIME-WAIT ended by the next SYN: 1 left.
        ("tuple-reuse.pcap", &[("127.0.0.3", 1)]),
        ("ipv6.pcap", &[("::1", 10)]),
        (
            "healthcheck-no-keepalive.pcap",
            &[("127.0.0.3", 16), ("127.0.0.2", 16), ("127.0.0.10", 10)],
        ),
        (
            "healthcheck-fixed.pcap",
            &[("127.0.0.3", 1), ("127.0.0.2", 16), ("127.0.0.10", 10)],
        ),
        ("client-no-pool.pcap", &[("127.0.0.10", 20)]),
        ("client-pool.pcap", &[("127.0.0.3", 1)]),
    ];
    for (name, hosts) in cases {
        let s = analyze(&[name]);
        for (host, want) in *hosts {
            let ip: IpAddr = host.parse().unwrap();
            let got = s
                .time_wait
                .iter()
                .find(|t| t.host == ip)
                .map_or(0, |t| t.stats.at_end);
            assert_eq!(got, *want, "{name}: TIME-WAIT on {host} at the end");
        }
    }
    let s = analyze(&["tuple-reuse.pcap"]);
    let tw = &s.time_wait[0].stats;
    assert_eq!((tw.entries, tw.peak, tw.cut_by_reuse), (10, 1, 9));
}

#[test]
fn findings_name_the_hop_and_the_fix() {
    // The ids of a capture's findings, each with its title.
    let ids = |name: &str| -> Vec<(String, String)> {
        analyze(&[name])
            .findings
            .iter()
            .map(|f| (f.id.to_string(), f.title.clone()))
            .collect()
    };
    // Whether finding `id` is there, with a title that starts with `at` ("" for any).
    let has = |f: &[(String, String)], id: &str, at: &str| {
        f.iter().any(|(i, t)| i == id && t.starts_with(at))
    };
    let f = ids("nginx-default-upstream.pcap");
    assert!(
        has(&f, "proxy_without_upstream_keepalive", "127.0.0.3:8887"),
        "{f:?}"
    );
    assert!(has(&f, "tw_sysctl_caution", ""), "{f:?}");
    let f = ids("nginx-upstream-keepalive.pcap");
    assert!(!has(&f, "proxy_without_upstream_keepalive", ""), "{f:?}");
    assert!(
        f.iter()
            .any(|(id, t)| id == "server_idle_timeout" && t.contains("after about 2 s")),
        "{f:?}"
    );

    let f = ids("healthcheck-no-keepalive.pcap");
    assert!(
        has(&f, "health_checks_without_keepalive", "127.0.0.3:8887"),
        "{f:?}"
    );
    let f = ids("healthcheck-fixed.pcap");
    assert!(
        !has(&f, "health_checks_without_keepalive", "127.0.0.3:8887"),
        "{f:?}"
    );

    let f = ids("client-no-pool.pcap");
    assert!(has(&f, "client_without_pool", "127.0.0.10"), "{f:?}");
    let f = ids("client-pool.pcap");
    assert!(!has(&f, "client_without_pool", ""), "{f:?}");

    // HTTP/1.1 `Connection: close` straight from curl: the client's doing, not a proxy's.
    let f = ids("client-connection-close.pcap");
    assert!(
        has(&f, "clients_send_connection_close", "127.0.0.3:8887"),
        "{f:?}"
    );
    assert!(!has(&f, "proxy_without_upstream_keepalive", ""), "{f:?}");
    assert!(has(&f, "tw_sysctl_caution", ""), "{f:?}");

    let f = ids("rst-linger0.pcap");
    assert!(has(&f, "resets", ""), "{f:?}");

    // Every finding carries evidence, a fix, and (when it has connections) a filter.
    for name in [
        "nginx-default-upstream.pcap",
        "healthcheck-no-keepalive.pcap",
        "client-connection-close.pcap",
        "rst-linger0.pcap",
    ] {
        for f in analyze(&[name]).findings {
            assert!(!f.evidence.is_empty() && !f.fix.is_empty(), "{f:?}");
            if !f.streams.is_empty() {
                assert!(f.wireshark_filter().unwrap().starts_with("tcp.stream in {"));
            }
        }
    }
}
