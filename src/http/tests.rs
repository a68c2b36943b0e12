//! Crafted byte streams through [`HttpConn`]. End 0 is the client unless a test says otherwise.

use super::*;
use crate::time::Timestamp;

const C: usize = 0;
const S: usize = 1;

fn t(s: i64) -> Timestamp {
    Timestamp::from_secs_nanos(s, 0)
}

/// Feeds `(end, bytes)` steps at times 1, 2, 3, ... s.
fn run(steps: &[(usize, &[u8])]) -> HttpConn {
    let mut c = HttpConn::new();
    for (i, (end, bytes)) in steps.iter().enumerate() {
        c.data(*end, t(i as i64 + 1), bytes);
    }
    c
}

const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";

#[test]
fn one_request_one_response() {
    let s = run(&[(C, GET), (S, OK)]).summary(C);
    assert_eq!(s.app, App::Http);
    assert_eq!((s.requests, s.responses, s.unanswered_requests), (1, 1, 0));
    assert_eq!(s.methods[Method::Get.idx()], 1);
    assert_eq!(s.method_counts().collect::<Vec<_>>(), [(Method::Get, 1)]);
    assert_eq!(s.request_versions, [0, 1]);
    assert_eq!(s.response_versions, [0, 1]);
    assert_eq!(s.status_classes, [0, 1, 0, 0, 0]);
    assert_eq!(s.requests_without_host, 0);
    let first = s.first_request.as_ref().unwrap();
    assert_eq!((first.method, first.target.as_str()), (Method::Get, "/a"));
    assert_eq!((first.version, first.has_host), (1, true));
    assert_eq!(s.last_request_ts, Some(t(1)));
    assert_eq!(s.last_response_ts, Some(t(2)));
    assert!(!s.last_request_wants_close && !s.last_response_close);
    assert_eq!((s.gaps, s.resyncs, s.parse_errors), (0, 0, 0));
    assert!(!s.upgraded);
}

/// What the pipeline takes out of a finished connection is what `summary` shows, also for
/// unanswered requests and a connection without HTTP.
#[test]
fn take_summary_moves_out_what_summary_shows() {
    for exchange in [
        &[(C, GET), (S, OK), (C, GET)][..],
        &[(C, b"\x16\x03\x01\x00\x05hello".as_slice())][..],
        &[][..],
    ] {
        let mut c = run(exchange);
        let shown = c.summary(C);
        assert_eq!(c.take_summary(C), shown);
    }
    let mut c = run(&[(C, GET), (S, OK), (C, GET)]);
    let s = c.take_summary(C);
    assert_eq!((s.requests, s.unanswered_requests), (2, 1));
    assert_eq!(s.first_request.unwrap().target, "/a");
}

#[test]
fn keep_alive_three_requests() {
    let s = run(&[(C, GET), (S, OK), (C, GET), (S, OK), (C, GET), (S, OK)]).summary(C);
    assert_eq!((s.requests, s.responses, s.unanswered_requests), (3, 3, 0));
    assert_eq!(s.last_request_ts, Some(t(5)));
    assert_eq!(s.last_response_ts, Some(t(6)));
    assert_eq!(s.parse_errors, 0);
}

#[test]
fn body_split_over_calls_completes_with_the_last_byte() {
    let s = run(&[
        (C, GET),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123"),
        (S, b"456"),
        (S, b"789"),
    ])
    .summary(C);
    assert_eq!((s.responses, s.parse_errors), (1, 0));
    assert_eq!(s.last_response_ts, Some(t(4)));
}

#[test]
fn pipelined_five_requests_in_one_call() {
    let reqs = GET.repeat(5);
    let mut resps = OK.repeat(5);
    let mut c = run(&[(C, &reqs)]);
    assert_eq!(c.summary(C).unanswered_requests, 5);
    // The responses arrive cut at odd places.
    let tail = resps.split_off(37);
    c.data(S, t(2), &resps);
    c.data(S, t(3), &tail);
    let s = c.summary(C);
    assert_eq!((s.requests, s.responses, s.unanswered_requests), (5, 5, 0));
    assert_eq!(s.parse_errors, 0);
}

#[test]
fn head_split_at_every_byte_is_the_same() {
    let req: &[u8] = b"POST /submit?q=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\
        Content-Length: 4\r\n\r\nbodyGET /next HTTP/1.0\r\n\r\n";
    let resp: &[u8] =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nKeep-Alive: timeout=7\r\n\
        Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n\
        HTTP/1.0 200 OK\r\n\r\nclose-delimited";
    let whole = {
        let mut c = run(&[(C, req), (S, resp)]);
        c.end_of_stream(S, t(3));
        c.summary(C)
    };
    assert_eq!((whole.requests, whole.responses), (2, 2));
    assert_eq!(whole.interim_responses, 1);
    assert_eq!(whole.keep_alive_timeout_s, Some(7));
    assert_eq!(whole.last_response_ts, Some(t(3)));
    assert_eq!(whole.parse_errors, 0);
    for cut in 0..=req.len() {
        let mut c = HttpConn::new();
        c.data(C, t(1), &req[..cut]);
        c.data(C, t(1), &req[cut..]);
        c.data(S, t(2), resp);
        c.end_of_stream(S, t(3));
        assert_eq!(c.summary(C), whole, "request cut at {cut}");
    }
    for cut in 0..=resp.len() {
        let mut c = run(&[(C, req)]);
        c.data(S, t(2), &resp[..cut]);
        c.data(S, t(2), &resp[cut..]);
        c.end_of_stream(S, t(3));
        assert_eq!(c.summary(C), whole, "response cut at {cut}");
    }
}

#[test]
fn byte_at_a_time_is_the_same() {
    let reqs = GET.repeat(3);
    let resps = OK.repeat(3);
    let whole = run(&[(C, &reqs), (S, &resps)]).summary(C);
    let mut c = HttpConn::new();
    for b in reqs.chunks(1) {
        c.data(C, t(1), b);
    }
    for b in resps.chunks(1) {
        c.data(S, t(2), b);
    }
    assert_eq!(c.summary(C), whole);
    assert_eq!(whole.responses, 3);
}

#[test]
fn chunked_response_with_split_size_lines_extensions_and_trailers() {
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
        1A;name=\"v\"\r\nabcdefghijklmnopqrstuvwxyz\r\n\
        0d\r\n0123456789abc\r\n\
        0;last\r\nExpires: never\r\nX-Sum: 1\r\n\r\n";
    for size in 1..=8 {
        let mut c = run(&[(C, GET), (C, GET)]);
        for (i, piece) in resp.chunks(size).enumerate() {
            c.data(S, t(10 + i as i64), piece);
        }
        c.data(S, t(100), OK);
        let s = c.summary(C);
        assert_eq!(
            (s.responses, s.unanswered_requests),
            (2, 0),
            "pieces of {size}"
        );
        assert_eq!(s.parse_errors, 0, "pieces of {size}");
        assert_eq!(s.last_response_ts, Some(t(100)));
    }
}

#[test]
fn bad_chunk_size_loses_sync_then_resyncs() {
    let s = run(&[
        (C, GET),
        (C, GET),
        (
            S,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n",
        ),
        (S, OK),
    ])
    .summary(C);
    assert_eq!((s.parse_errors, s.resyncs, s.responses), (1, 1, 2));
}

#[test]
fn head_response_has_no_body() {
    let s = run(&[
        (
            C,
            b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"),
        (S, OK),
    ])
    .summary(C);
    assert_eq!((s.requests, s.responses, s.parse_errors), (2, 2, 0));
    assert_eq!(s.methods[Method::Head.idx()], 1);
    assert_eq!(s.last_response_ts, Some(t(3)));
}

#[test]
fn continue_then_final_response() {
    let s = run(&[
        (
            C,
            b"POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        ),
        (S, b"HTTP/1.1 100 Continue\r\n\r\n"),
        (C, b"abc"),
        (S, OK),
        (C, GET),
        (S, OK),
    ])
    .summary(C);
    assert_eq!((s.requests, s.responses, s.interim_responses), (2, 2, 1));
    assert_eq!(s.status_classes, [1, 2, 0, 0, 0]);
    assert_eq!(s.methods[Method::Post.idx()], 1);
    assert_eq!((s.unanswered_requests, s.parse_errors), (0, 0));
}

#[test]
fn no_content_and_not_modified_have_no_body() {
    let s = run(&[
        (C, &GET.repeat(3)),
        (
            S,
            b"HTTP/1.1 204 No Content\r\nContent-Length: 99\r\n\r\n\
              HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
        ),
        (S, OK),
    ])
    .summary(C);
    assert_eq!(
        (s.responses, s.unanswered_requests, s.parse_errors),
        (3, 0, 0)
    );
    assert_eq!(s.status_classes, [0, 2, 1, 0, 0]);
}

#[test]
fn http10_response_without_length_ends_at_close() {
    let mut c = run(&[
        (C, b"GET / HTTP/1.0\r\n\r\n"),
        (S, b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\npart one"),
        (S, b"HTTP/1.1 200 looks like a head but is body\r\n\r\n"),
    ]);
    let before = c.summary(C);
    assert_eq!(before.responses, 1);
    assert_eq!(before.last_response_ts, None);
    c.end_of_stream(S, t(9));
    let s = c.summary(C);
    assert_eq!((s.responses, s.parse_errors), (1, 0));
    assert_eq!(s.response_versions, [1, 0]);
    assert_eq!(s.last_response_ts, Some(t(9)));
    assert!(s.last_request_wants_close);
    assert!(s.last_response_close);
    assert_eq!(s.requests_without_host, 1);
}

#[test]
fn post_with_body_then_more_requests() {
    let s = run(&[
        (
            C,
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
        ),
        (S, OK),
        (
            C,
            b"PUT /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ),
        (S, OK),
        (C, b"DELETE /c HTTP/1.1\r\nHost: x\r\n\r\n"),
        (S, OK),
    ])
    .summary(C);
    assert_eq!((s.requests, s.responses, s.parse_errors), (3, 3, 0));
    let m = |m: Method| s.methods[m.idx()];
    assert_eq!(
        (m(Method::Post), m(Method::Put), m(Method::Delete)),
        (1, 1, 1)
    );
}

#[test]
fn gap_inside_a_body_keeps_sync() {
    let mut c = run(&[(C, GET), (C, GET)]);
    c.data(
        S,
        t(2),
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
    );
    c.gap(S, 80);
    c.data(S, t(3), b"0123456789");
    c.data(S, t(4), OK);
    let s = c.summary(C);
    assert_eq!(
        (s.responses, s.gaps, s.resyncs, s.parse_errors),
        (2, 1, 0, 0)
    );
    assert_eq!(s.last_response_ts, Some(t(4)));
}

#[test]
fn gap_ending_a_body_completes_it() {
    let mut c = run(&[(C, GET)]);
    c.data(
        S,
        t(2),
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
    );
    c.gap(S, 90);
    let s = c.summary(C);
    assert_eq!((s.responses, s.unanswered_requests), (1, 0));
    assert_eq!(s.last_response_ts, Some(t(2)));
}

#[test]
fn gap_inside_chunk_data_keeps_sync() {
    let mut c = run(&[(C, GET), (C, GET)]);
    c.data(
        S,
        t(2),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123",
    );
    c.gap(S, 10);
    c.data(S, t(3), b"ab\r\n0\r\n\r\n");
    c.data(S, t(4), OK);
    let s = c.summary(C);
    assert_eq!(
        (s.responses, s.gaps, s.resyncs, s.parse_errors),
        (2, 1, 0, 0)
    );
}

#[test]
fn gap_in_a_head_resyncs_on_the_next_request() {
    let mut c = run(&[(C, b"GET /one HTTP/1.1\r\nHost: x\r\nAcc")]);
    c.gap(C, 120);
    c.data(C, t(2), b"ept: */*\r\n\r\n");
    c.data(C, t(3), b"GET /two HTTP/1.1\r\nHost: x\r\n\r\n");
    c.data(
        C,
        t(4),
        b"POST /three HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
    );
    let s = c.summary(C);
    assert_eq!((s.requests, s.gaps, s.resyncs), (2, 1, 1));
    assert_eq!(s.first_request.unwrap().target, "/two");
    assert_eq!(s.parse_errors, 0);
}

#[test]
fn gap_in_a_response_head_resyncs_on_a_status_line() {
    let mut c = run(&[(C, &GET.repeat(3))]);
    c.data(S, t(2), OK);
    c.data(S, t(3), b"HTTP/1.1 200 OK\r\nConte");
    c.gap(S, 500);
    c.data(S, t(4), b"body bytes\r\nmore\r\nHTTP/1.1 404 Not Found\r\n");
    c.data(S, t(5), b"Content-Length: 0\r\n\r\n");
    let s = c.summary(C);
    assert_eq!((s.responses, s.resyncs, s.gaps), (2, 1, 1));
    assert_eq!(s.status_classes, [0, 1, 0, 1, 0]);
    // The response lost in the gap was never counted, but the response found after it is
    // taken to answer the newest request, so none is left waiting.
    assert_eq!(s.unanswered_requests, 0);
}

#[test]
fn resync_line_split_across_calls() {
    let mut c = run(&[(C, GET)]);
    c.gap(C, 10);
    c.data(C, t(2), b"junk\r\nGE");
    c.data(C, t(3), b"T /x HT");
    c.data(C, t(4), b"TP/1.1\r\n\r\n");
    let s = c.summary(C);
    assert_eq!((s.requests, s.resyncs, s.parse_errors), (2, 1, 0));
}

#[test]
fn garbage_in_place_of_a_head_is_a_parse_error() {
    let s = run(&[
        (C, GET),
        (C, b"\x00\x01garbage\r\nGET /b HTTP/1.1\r\nHost: y\r\n\r\n"),
    ])
    .summary(C);
    assert_eq!((s.requests, s.parse_errors, s.resyncs), (2, 1, 1));
}

#[test]
fn tls_client_hello_is_tls() {
    let hello: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03GET / HTTP/1.1\r\n\r\n";
    let mut c = run(&[(C, hello)]);
    c.data(S, t(2), b"\x16\x03\x03\x00\x5a\x02");
    c.data(C, t(3), b"GET / HTTP/1.1\r\n\r\n");
    let s = c.summary(C);
    assert_eq!(s.app, App::Tls);
    assert_eq!(s.app.as_str(), "tls");
    assert_eq!((s.requests, s.responses), (0, 0));
    assert!(c.inner_is_freed());
    // Gaps are data quality whatever the payload.
    c.gap(S, 1000);
    assert_eq!(c.summary(C).gaps, 1);
    assert!(c.inner_is_freed());
}

#[test]
fn tls_record_header_split_is_still_tls() {
    let mut c = HttpConn::new();
    c.data(C, t(1), b"\x16");
    c.data(C, t(1), b"\x03");
    c.data(C, t(1), b"\x01\x00");
    assert_eq!(c.summary(C).app, App::Tls);
}

#[test]
fn h2c_preface_is_http2() {
    let s = run(&[(C, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")]).summary(C);
    assert_eq!((s.app, s.requests), (App::Http2, 0));
    let mut c = HttpConn::new();
    c.data(C, t(1), b"PRI * HT");
    c.data(C, t(1), b"TP/2.0\r\n");
    assert_eq!(c.summary(C).app.as_str(), "http2");
}

#[test]
fn no_data_is_none_and_small() {
    let c = HttpConn::new();
    let s = c.summary(C);
    assert_eq!(s, HttpSummary::default());
    assert_eq!(s.app.as_str(), "none");
    // The parsing state is held in place (see `HttpConn`): bounded, as it is per connection.
    assert!(std::mem::size_of::<HttpConn>() <= 400);
    // A bare FIN or a zero-length gap changes nothing.
    let mut c = HttpConn::new();
    c.end_of_stream(C, t(1));
    c.gap(S, 0);
    assert_eq!(c.summary(C), HttpSummary::default());
}

#[test]
fn garbage_is_other() {
    let mut c = run(&[(S, b"220 smtp.example.com ESMTP\r\n")]);
    c.data(C, t(2), GET);
    let s = c.summary(C);
    assert_eq!((s.app, s.requests), (App::Other, 0));
    assert_eq!(s.app.as_str(), "other");
    assert_eq!(run(&[(C, b"\x00\x00\x00\x01")]).summary(C).app, App::Other);
}

#[test]
fn unfinished_first_bytes_are_other() {
    let mut c = run(&[(C, b"GE")]);
    c.end_of_stream(C, t(2));
    assert_eq!(c.summary(C).app, App::Other);
}

#[test]
fn connection_token_lists() {
    let s = run(&[
        (
            C,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n\r\n\
              GET / HTTP/1.1\r\nHost: x\r\nconnection:  TE ,CLOSE\r\n\r\n",
        ),
        (
            S,
            b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n\
              HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        ),
    ])
    .summary(C);
    assert_eq!((s.client_keep_alive, s.client_conn_close), (1, 1));
    assert_eq!((s.server_keep_alive, s.server_conn_close), (1, 1));
    assert!(s.last_request_wants_close);
    assert!(s.last_response_close);
    // "closed" is not "close", and "keep-alive-ish" is not "keep-alive".
    let s = run(&[(
        C,
        b"GET / HTTP/1.1\r\nConnection: closed, keep-alive-ish\r\n\r\n",
    )])
    .summary(C);
    assert_eq!((s.client_keep_alive, s.client_conn_close), (0, 0));
}

#[test]
fn keep_alive_timeout_is_parsed() {
    let s = run(&[
        (C, GET),
        (
            S,
            b"HTTP/1.1 200 OK\r\nKeep-Alive: max=100, Timeout=65\r\nContent-Length: 0\r\n\r\n",
        ),
    ])
    .summary(C);
    assert_eq!(s.keep_alive_timeout_s, Some(65));
    let s = run(&[
        (C, GET),
        (
            S,
            b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=x\r\nContent-Length: 0\r\n\r\n",
        ),
    ])
    .summary(C);
    assert_eq!(s.keep_alive_timeout_s, None);
}

#[test]
fn health_check_without_host() {
    let mut c = run(&[
        (C, b"HEAD / HTTP/1.0\r\n\r\n"),
        (
            S,
            b"HTTP/1.1 200 OK\r\nContent-Length: 612\r\nConnection: close\r\n\r\n",
        ),
    ]);
    c.end_of_stream(S, t(3));
    let s = c.summary(C);
    assert_eq!(
        (s.requests, s.responses, s.requests_without_host),
        (1, 1, 1)
    );
    assert_eq!(s.request_versions, [1, 0]);
    let first = s.first_request.unwrap();
    assert_eq!((first.method, first.target.as_str()), (Method::Head, "/"));
    assert_eq!((first.version, first.has_host), (0, false));
    assert!(s.last_request_wants_close && s.last_response_close);
    assert_eq!(s.last_response_ts, Some(t(2)));
}

#[test]
fn http10_keep_alive_does_not_want_close() {
    let s = run(&[(C, b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")]).summary(C);
    assert!(!s.last_request_wants_close);
}

#[test]
fn roles_from_the_bytes_when_end_1_is_the_client() {
    let c = run(&[(S, GET), (C, OK), (S, GET), (C, OK)]);
    let s = c.summary(1);
    assert_eq!((s.app, s.requests, s.responses), (App::Http, 2, 2));
    assert_eq!(s.requests_from_server, 0);
    assert_eq!(c.summary(0).requests_from_server, 2);
}

#[test]
fn upgrade_stops_parsing() {
    let s = run(&[
        (
            C,
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        ),
        (
            S,
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
        ),
        (C, b"\x81\x85\x00\x00\x00\x00hello"),
        (S, b"HTTP/1.1 200 not parsed\r\n\r\n"),
    ])
    .summary(C);
    assert!(s.upgraded);
    assert_eq!(s.app, App::Http);
    assert_eq!((s.requests, s.responses, s.interim_responses), (1, 0, 1));
    assert_eq!((s.unanswered_requests, s.parse_errors), (0, 0));
}

#[test]
fn connect_tunnel_stops_parsing() {
    let s = run(&[
        (
            C,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        ),
        (S, b"HTTP/1.1 200 Connection established\r\n\r\n"),
        (C, b"\x16\x03\x01\x00\x05hello"),
    ])
    .summary(C);
    assert!(s.upgraded);
    assert_eq!((s.requests, s.responses, s.parse_errors), (1, 1, 0));
}

#[test]
fn mid_stream_start_resyncs() {
    let mut c = HttpConn::new();
    c.gap(S, 0);
    c.data(S, t(1), b"tail of an earlier body</html>\r\n");
    c.data(C, t(2), GET);
    c.data(S, t(3), OK);
    let s = c.summary(C);
    assert_eq!((s.app, s.requests, s.responses), (App::Http, 1, 1));
    assert_eq!((s.gaps, s.resyncs, s.parse_errors), (0, 1, 0));
}

#[test]
fn oversized_head_is_an_error_and_the_stream_recovers() {
    let mut c = run(&[(C, b"GET /big HTTP/1.1\r\n")]);
    let filler =
        b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    for _ in 0..(PENDING_MAX / filler.len() + 10) {
        c.data(C, t(2), filler);
    }
    c.data(C, t(3), b"\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n");
    let s = c.summary(C);
    assert_eq!((s.requests, s.parse_errors, s.resyncs), (1, 1, 1));
    assert!(c.pending_capacity(C) <= PENDING_MAX + 4096);
}

#[test]
fn many_headers_are_parsed() {
    let mut req = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..100 {
        req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"Host: x\r\n\r\n");
    let s = run(&[(C, &req)]).summary(C);
    assert_eq!(
        (s.requests, s.requests_without_host, s.parse_errors),
        (1, 0, 0)
    );
}

#[test]
fn long_target_is_cut() {
    let mut req = b"GET /".to_vec();
    req.extend_from_slice(&[b'a'; 500]);
    req.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    let s = run(&[(C, &req)]).summary(C);
    assert_eq!(
        s.first_request.unwrap().target.len(),
        RequestLine::TARGET_MAX
    );
}

/// Targets up to `Target::INLINE` bytes are kept in place, longer ones on the heap; both read
/// back as they went in, multi-byte characters included, and compare and print as text.
#[test]
fn targets_read_back_whole_in_place_or_not() {
    assert_eq!(std::mem::size_of::<Target>(), std::mem::size_of::<String>());
    let long = "/é".repeat(40);
    for s in [
        "",
        "/",
        "/health",
        "/ab/é/ü/ñ/€/x",
        "/",
        &"/a".repeat(11),
        &long,
    ] {
        for len in [s.len(), Target::INLINE, Target::INLINE + 1] {
            let mut cut = len.min(s.len());
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            let s = &s[..cut];
            let t = Target::new(s);
            assert_eq!(t.as_str(), s);
            assert_eq!(t, s);
            assert_eq!(t.to_string(), s);
            assert_eq!(format!("{t:?}"), format!("{s:?}"));
            assert_eq!(t.clone(), Target::from(s.to_string()));
        }
    }
    let line = |target: &str| {
        let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        run(&[(C, req.as_bytes())])
            .summary(C)
            .first_request
            .unwrap()
            .target
    };
    assert_eq!(line("/status"), "/status");
    assert_eq!(line(&long), long.as_str());
}

#[test]
fn unknown_method_is_other() {
    let s = run(&[(C, b"PROPFIND /d HTTP/1.1\r\nHost: x\r\n\r\n")]).summary(C);
    assert_eq!((s.app, s.requests), (App::Http, 1));
    assert_eq!(s.methods[Method::Other.idx()], 1);
    assert_eq!(Method::Other.as_str(), "OTHER");
}

#[test]
fn status_classes_count_each_class() {
    let reqs = GET.repeat(4);
    let s = run(&[
        (C, &reqs),
        (
            S,
            b"HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n\
              HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n\
              HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ),
    ])
    .summary(C);
    assert_eq!(s.status_classes, [0, 1, 1, 1, 1]);
}

#[test]
fn deep_pipelining_beyond_the_queue_still_counts() {
    let n = 100;
    let mut reqs = Vec::new();
    for i in 0..n {
        reqs.extend_from_slice(if i % 2 == 0 {
            b"HEAD / HTTP/1.1\r\n\r\n"
        } else {
            GET
        });
    }
    let mut c = run(&[(C, &reqs)]);
    assert_eq!(c.summary(C).unanswered_requests, n);
    for i in 0..n {
        if i % 2 == 0 && i < 64 {
            c.data(S, t(2), b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        } else {
            c.data(S, t(2), OK);
        }
    }
    let s = c.summary(C);
    assert_eq!(
        (s.responses, s.unanswered_requests, s.parse_errors),
        (n, 0, 0)
    );
}

#[test]
fn noise_never_panics() {
    // A cheap deterministic fuzz: random cuts of a mixed stream with gaps and garbage.
    let stream: Vec<u8> = [
        GET,
        b"\x00\xff\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n",
        OK,
        b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n",
    ]
    .concat();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..300 {
        let mut c = HttpConn::new();
        let mut i = 0;
        while i < stream.len() {
            let n = (next() % 40) as usize + 1;
            let j = (i + n).min(stream.len());
            let end = (next() % 2) as usize;
            match next() % 10 {
                0 => c.gap(end, next() % 100),
                1 => c.end_of_stream(end, t(1)),
                _ => c.data(end, t(1), &stream[i..j]),
            }
            i = j;
        }
        let _ = c.summary(0);
    }
}

mod recognisers {
    use super::super::scan::{self, Class, Resync, Verdict, Want};

    #[test]
    fn classify_waits_for_enough_bytes() {
        assert_eq!(scan::classify(b""), None);
        assert_eq!(scan::classify(b"G"), None);
        assert_eq!(scan::classify(b"GET /x HTTP/1."), None);
        assert_eq!(scan::classify(b"GET /x HTTP/1.1\r"), Some(Class::Requests));
        assert_eq!(scan::classify(b"HTTP/1."), Some(Class::Responses));
        assert_eq!(scan::classify(b"HTTP/2"), Some(Class::Other));
        assert_eq!(scan::classify(b"\x16\x03\x05"), Some(Class::Other));
        assert_eq!(scan::classify(b"\x16\x03\x00"), Some(Class::Tls));
        assert_eq!(scan::classify(b"PRI * HTTP/2.0"), Some(Class::Http2));
        assert_eq!(scan::classify(b"get / HTTP/1.1\n"), Some(Class::Requests));
        assert_eq!(
            scan::classify(b"GET / HTTP/1.1 extra\r\n"),
            Some(Class::Other)
        );
        assert_eq!(scan::classify(b"SSH-2.0-OpenSSH\r\n"), Some(Class::Other));
    }

    #[test]
    fn resync_needs_a_known_method_at_a_line_start() {
        let r = |b: &[u8], s| scan::resync(b, s, Want::Requests);
        assert_eq!(r(b"xGET / HTTP/1.1\r", true), Resync::NotFound);
        assert_eq!(r(b"x\nGET / HTTP/1.1\r\n", false), Resync::Found(2, true));
        assert_eq!(r(b"GET / HTTP/1.1\r", false), Resync::NotFound);
        assert_eq!(r(b"x\nFOO / HTTP/1.1\r", false), Resync::NotFound);
        assert_eq!(r(b"x\nPOS", false), Resync::NeedMore(2));
        assert_eq!(r(b"x\n", false), Resync::NeedMore(2));
        let s = |b: &[u8]| scan::resync(b, true, Want::Responses);
        assert_eq!(s(b"HTTP/1.1 2"), Resync::NeedMore(0));
        assert_eq!(
            s(b"HTTP/1.1 abc\r\nHTTP/1.0 500 x"),
            Resync::Found(14, false)
        );
        assert_eq!(scan::status_line(b"HTTP/1.1 200"), Verdict::Yes);
        assert_eq!(
            scan::resync(b"HTTP/1.1 200 OK\r\n", true, Want::Either),
            Resync::Found(0, false)
        );
    }

    #[test]
    fn header_values() {
        assert!(scan::has_token(b" TE, close ", b"close"));
        assert!(!scan::has_token(b"closed", b"close"));
        assert_eq!(
            scan::close_and_keep_alive(b"Keep-Alive, CLOSE"),
            (true, true)
        );
        assert_eq!(
            scan::close_and_keep_alive(b"closed,keep-alive2"),
            (false, false)
        );
        assert!(scan::last_is_chunked(b"gzip, Chunked"));
        assert!(!scan::last_is_chunked(b"chunked, gzip"));
        assert_eq!(scan::decimal(b" 42 "), Some(42));
        assert_eq!(scan::decimal(b"4 2"), None);
        assert_eq!(scan::decimal(b"99999999999999999999"), None);
        assert_eq!(scan::keep_alive_timeout(b"timeout=\"5\", max=9"), Some(5));
        assert_eq!(
            scan::keep_alive_timeout(b"timeout=99999999999"),
            Some(u32::MAX)
        );
    }

    /// Every header name the strict reader passes on (bytes in `'!'..='~'`), against the names
    /// `HeadInfo` looks for: the folded compare says what `eq_ignore_ascii_case` says.
    #[test]
    fn header_names_compare_as_eq_ignore_ascii_case() {
        let printable: Vec<u8> = (b'!'..=b'~').collect();
        let wanted: [&[u8]; 5] = [
            b"host",
            b"connection",
            b"keep-alive",
            b"content-length",
            b"transfer-encoding",
        ];
        for lower in wanted {
            // The name itself in mixed case, then each position replaced by every tchar.
            let mixed: Vec<u8> = lower
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    if i % 2 == 0 {
                        b.to_ascii_uppercase()
                    } else {
                        *b
                    }
                })
                .collect();
            assert!(scan::name_is(&mixed, lower));
            for i in 0..lower.len() {
                for &t in &printable {
                    let mut name = mixed.clone();
                    name[i] = t;
                    assert_eq!(
                        scan::name_is(&name, lower),
                        name.eq_ignore_ascii_case(lower),
                        "{:?} {:?}",
                        String::from_utf8_lossy(&name),
                        String::from_utf8_lossy(lower)
                    );
                }
            }
            assert!(!scan::name_is(&mixed[1..], lower));
        }
    }
}

/// The strict reader hands `HeadInfo::add` only the names `may_want` lets through: every name
/// `add` reads, in any case, is among them.
#[test]
fn every_name_head_info_reads_has_a_length_it_wants() {
    for (name, value) in [
        ("Host", "a"),
        ("Connection", "close"),
        ("Keep-Alive", "timeout=5"),
        ("Content-Length", "3"),
        ("Transfer-Encoding", "chunked"),
    ] {
        let mut info = head::HeadInfo::default();
        info.add(name.as_bytes(), value.as_bytes());
        assert_ne!(info, head::HeadInfo::default(), "{name}");
        assert!(head::HeadInfo::may_want(name.as_bytes()), "{name}");
        let lower = name.to_ascii_lowercase();
        assert!(head::HeadInfo::may_want(lower.as_bytes()), "{name}");
    }
}
