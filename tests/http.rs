//! HTTP on the shipped real captures: requests per connection, versions and close reasons as
//! the scenarios in captures/README.md imply.

mod common;

use finscope::analysis::CloseReason;
use finscope::http::{App, Method};
use finscope::pipeline::{self, Config};

fn endpoint_http(name: &str, ep: &str) -> finscope::analysis::HttpStats {
    let s = pipeline::analyze(&[common::capture(name)], &Config::default(), &mut |_| {}).unwrap();
    s.endpoints
        .into_iter()
        .find(|e| e.endpoint.to_string() == ep)
        .expect("endpoint")
        .http
}

#[test]
fn nginx_default_upstream_is_one_http10_request_per_connection() {
    let h = endpoint_http("nginx-default-upstream.pcap", "127.0.0.3:8887");
    assert_eq!(h.requests, 20);
    assert_eq!(h.request_versions, [20, 0]);
    assert_eq!(h.one_request_share(), Some(1.0));
    assert_eq!(h.connection_close_by_client, 20);
    assert_eq!(
        h.close_reasons.get(&CloseReason::ServerAfterHttp10),
        Some(&14)
    );
    assert_eq!(
        h.close_reasons.get(&CloseReason::ClientAfterOnlyRequest),
        Some(&6)
    );
}

#[test]
fn upstream_keepalive_carries_many_requests_and_closes_on_idle() {
    let h = endpoint_http("nginx-upstream-keepalive.pcap", "127.0.0.3:8887");
    assert_eq!(h.requests, 20);
    assert_eq!(h.max_requests_per_connection(), Some(17));
    assert_eq!(h.request_histogram(), [3, 0, 1, 0, 0]);
    assert_eq!(
        h.close_reasons.get(&CloseReason::ServerIdleTimeout),
        Some(&4)
    );
    assert_eq!(h.idle_peak_s(), Some(2));
}

#[test]
fn client_without_pool_closes_after_each_request() {
    let h = endpoint_http("client-no-pool.pcap", "127.0.0.3:8887");
    assert_eq!(h.connections_with_requests(), 20);
    assert_eq!(
        h.close_reasons.get(&CloseReason::ClientAfterOnlyRequest),
        Some(&20)
    );
    let h = endpoint_http("client-pool.pcap", "127.0.0.3:8887");
    assert_eq!(h.requests_per_connection.get(&20), Some(&1));
    assert_eq!(
        h.close_reasons.get(&CloseReason::ServerIdleTimeout),
        Some(&1)
    );
}

#[test]
fn health_checks_are_head_http10_without_host() {
    let recs = common::records_with_http(&common::capture("healthcheck-no-keepalive.pcap"));
    let checks: Vec<_> = recs
        .iter()
        .filter(|(r, _)| r.client.ip.to_string().starts_with("127.0.0.2") && r.server.port == 8080)
        .collect();
    assert_eq!(checks.len(), 16);
    for (r, h) in checks {
        let q = h.first_request.as_ref().expect("a request");
        assert_eq!(
            (q.method, q.target.as_str(), q.version, q.has_host),
            (Method::Head, "/", 0, false)
        );
        assert_eq!(h.requests_without_host, 1);
        assert_eq!(r.closer, Some(finscope::tcp::Party::Server));
    }
}

#[test]
fn pipelined_chunked_and_tls() {
    let recs = common::records_with_http(&common::capture("pipelined.pcap"));
    assert_eq!((recs[0].1.requests, recs[0].1.responses), (5, 5));
    let recs = common::records_with_http(&common::capture("chunked.pcap"));
    assert_eq!(
        (
            recs[0].1.requests,
            recs[0].1.responses,
            recs[0].1.parse_errors
        ),
        (4, 4, 0)
    );
    for (_, h) in common::records_with_http(&common::capture("tls.pcap")) {
        assert_eq!((h.app, h.requests), (App::Tls, 0));
    }
}

#[test]
fn lost_segment_is_a_gap_and_parsing_resynchronises() {
    let recs = common::records_with_http(&common::capture("lost-segment.pcap"));
    assert_eq!(recs.len(), 1);
    let h = &recs[0].1;
    assert_eq!(h.requests, 5);
    assert!(h.gaps >= 1, "{h:?}");
    assert_eq!(h.responses, 4);
    // The response after the gap answers the newest request, not the one whose answer was lost.
    assert_eq!(h.unanswered_requests, 0, "{h:?}");
}

#[test]
fn health_checks_are_found_with_sources_and_period() {
    let h = endpoint_http("healthcheck-no-keepalive.pcap", "127.0.0.2:8080");
    let checks = h.health_checks();
    assert_eq!(checks.len(), 1, "{checks:?}");
    let c = &checks[0];
    assert_eq!((c.method, c.target.as_str()), (Method::Head, "/"));
    assert_eq!(
        (c.connections, c.http10, c.without_host, c.closed_by_server),
        (16, 16, 16, 16)
    );
    let hosts: Vec<String> = c.sources.iter().map(|s| s.host.to_string()).collect();
    assert_eq!(hosts, ["127.0.0.21", "127.0.0.22"]);
    for s in &c.sources {
        assert!((s.period_s - 0.5).abs() < 0.05, "{s:?}");
    }
    // Ordinary traffic with distinct URLs is not a health check.
    assert!(endpoint_http("client-no-pool.pcap", "127.0.0.3:8887")
        .health_checks()
        .is_empty());
}

#[test]
fn rst_linger0_is_reset_by_client_after_the_exchange() {
    let h = endpoint_http("rst-linger0.pcap", "127.0.0.3:8887");
    assert_eq!(h.close_reasons.get(&CloseReason::ResetByClient), Some(&10));
}
