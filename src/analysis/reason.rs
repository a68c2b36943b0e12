//! Why a connection was closed: a stable identifier drawn from the close verdict and what the
//! HTTP layer saw, plus the idle time before the first FIN.

use crate::http::{App, HttpSummary};
use crate::net::Side;
use crate::tcp::{CloseKind, ConnRecord, Party};
use crate::time::Duration;

/// Idle time before a FIN from which a close counts as an idle timeout rather than a close
/// right after the exchange.
pub const IDLE_THRESHOLD: Duration = Duration(500_000_000);

/// Why a connection ended (JSON: `close_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CloseReason {
    /// The server closed after an HTTP/1.0 request without keep-alive.
    ServerAfterHttp10,
    /// The server closed after the client's `Connection: close`.
    ServerAfterClientClose,
    /// The server closed after answering with its own `Connection: close`.
    ServerAfterOwnClose,
    /// The server closed a keep-alive connection that had been idle.
    ServerIdleTimeout,
    /// The server closed right after a response with nothing in HTTP asking for it.
    ServerOther,
    /// The client closed right after its only request was answered (no connection pool).
    ClientAfterOnlyRequest,
    /// The client closed right after the last of several requests.
    ClientAfterRequests,
    /// The client closed an idle connection.
    ClientIdle,
    /// Both FINs crossed.
    Simultaneous,
    /// A RST from the client before any FIN, after every request was answered.
    ResetByClient,
    /// A RST from the client while a request was still without its response.
    ResetByClientMidExchange,
    /// A RST from the server before any FIN, after every request was answered.
    ResetByServer,
    /// A RST from the server while a request was still without its response: the request was
    /// left unread or unanswered.
    ResetByServerMidExchange,
    /// Closed, but the payload was not HTTP (TLS, HTTP/2, other) or there was none.
    NotHttp,
    /// Not closed within the capture.
    Open,
    Unknown,
}

impl CloseReason {
    pub const ALL: [CloseReason; 16] = [
        CloseReason::ServerAfterHttp10,
        CloseReason::ServerAfterClientClose,
        CloseReason::ServerAfterOwnClose,
        CloseReason::ServerIdleTimeout,
        CloseReason::ServerOther,
        CloseReason::ClientAfterOnlyRequest,
        CloseReason::ClientAfterRequests,
        CloseReason::ClientIdle,
        CloseReason::Simultaneous,
        CloseReason::ResetByClient,
        CloseReason::ResetByClientMidExchange,
        CloseReason::ResetByServer,
        CloseReason::ResetByServerMidExchange,
        CloseReason::NotHttp,
        CloseReason::Open,
        CloseReason::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ServerAfterHttp10 => "server_after_http10",
            CloseReason::ServerAfterClientClose => "server_after_client_connection_close",
            CloseReason::ServerAfterOwnClose => "server_after_own_connection_close",
            CloseReason::ServerIdleTimeout => "server_idle_timeout",
            CloseReason::ServerOther => "server_other",
            CloseReason::ClientAfterOnlyRequest => "client_after_only_request",
            CloseReason::ClientAfterRequests => "client_after_requests",
            CloseReason::ClientIdle => "client_idle",
            CloseReason::Simultaneous => "simultaneous",
            CloseReason::ResetByClient => "reset_by_client",
            CloseReason::ResetByClientMidExchange => "reset_by_client_mid_exchange",
            CloseReason::ResetByServer => "reset_by_server",
            CloseReason::ResetByServerMidExchange => "reset_by_server_mid_exchange",
            CloseReason::NotHttp => "not_http",
            CloseReason::Open => "open",
            CloseReason::Unknown => "unknown",
        }
    }

    /// A sentence for reports.
    pub fn describe(self) -> &'static str {
        match self {
            CloseReason::ServerAfterHttp10 => {
                "server closed after an HTTP/1.0 request without keep-alive"
            }
            CloseReason::ServerAfterClientClose => {
                "server closed after the client's Connection: close"
            }
            CloseReason::ServerAfterOwnClose => "server closed after its own Connection: close",
            CloseReason::ServerIdleTimeout => "server closed an idle keep-alive connection",
            CloseReason::ServerOther => "server closed right after a response",
            CloseReason::ClientAfterOnlyRequest => "client closed after its only request (no pool)",
            CloseReason::ClientAfterRequests => "client closed after its last request",
            CloseReason::ClientIdle => "client closed an idle connection",
            CloseReason::Simultaneous => "simultaneous close",
            CloseReason::ResetByClient => "reset by client",
            CloseReason::ResetByClientMidExchange => {
                "reset by client before a response was complete"
            }
            CloseReason::ResetByServer => "reset by server",
            CloseReason::ResetByServerMidExchange => "reset by server with a request unanswered",
            CloseReason::NotHttp => "closed, payload not HTTP/1.x",
            CloseReason::Open => "not closed in the capture",
            CloseReason::Unknown => "unknown",
        }
    }
}

/// Time from the last payload byte (either side) to the first active FIN.
pub fn idle_before_close(r: &ConnRecord) -> Option<Duration> {
    let fin = r.first_fin?.ts;
    let last = [Side::Client, Side::Server]
        .iter()
        .filter_map(|s| r.side(*s).last_payload_ts)
        .filter(|t| *t <= fin)
        .max()?;
    Some(fin.since(last))
}

/// The reason `r` ended, given what HTTP saw on it.
pub fn close_reason(r: &ConnRecord, http: &HttpSummary) -> CloseReason {
    if r.close == CloseKind::Rst {
        let mid = http.unanswered_requests > 0;
        return match (r.first_rst.map(|m| m.side), mid) {
            (Some(Side::Server), false) => CloseReason::ResetByServer,
            (Some(Side::Server), true) => CloseReason::ResetByServerMidExchange,
            (_, false) => CloseReason::ResetByClient,
            (_, true) => CloseReason::ResetByClientMidExchange,
        };
    }
    let Some(closer) = r.closer else {
        return CloseReason::Open;
    };
    if closer == Party::Both {
        return CloseReason::Simultaneous;
    }
    if http.app != App::Http {
        return CloseReason::NotHttp;
    }
    let idle = idle_before_close(r).is_some_and(|d| d >= IDLE_THRESHOLD);
    match closer {
        Party::Server if idle => CloseReason::ServerIdleTimeout,
        Party::Server if http.last_request_wants_close && only_http10(http) => {
            CloseReason::ServerAfterHttp10
        }
        Party::Server if http.last_request_wants_close => CloseReason::ServerAfterClientClose,
        Party::Server if http.last_response_close => CloseReason::ServerAfterOwnClose,
        Party::Server => CloseReason::ServerOther,
        Party::Client if idle => CloseReason::ClientIdle,
        Party::Client if http.requests <= 1 => CloseReason::ClientAfterOnlyRequest,
        Party::Client => CloseReason::ClientAfterRequests,
        Party::Both => CloseReason::Simultaneous,
    }
}

/// Every request on the connection was HTTP/1.0 (nginx's default to an upstream).
fn only_http10(http: &HttpSummary) -> bool {
    http.request_versions[0] > 0 && http.request_versions[1] == 0
}

/// How many requests the connection had carried when the first FIN was sent: the close came
/// after request number N (N = 0: before any request).
pub fn close_after_request(r: &ConnRecord, http: &HttpSummary) -> Option<u32> {
    let fin = r.first_fin?.ts;
    if http.app != App::Http {
        return None;
    }
    Some(match http.last_request_ts {
        Some(t) if t > fin => http.requests.saturating_sub(1),
        _ => http.requests,
    })
}
