//! TCP connection tracking: sequence arithmetic, the RFC 9293 states each side is observed to
//! pass through, the flow table, and the close verdict of every connection.
//! Uses [`crate::time`], [`crate::net`] and [`crate::decode`]; knows nothing of HTTP.
//!
//! The questions answered per connection: who opened it (the first SYN's sender), who closed
//! first (the side whose FIN did not acknowledge the peer's FIN, or the first RST's sender),
//! and who is left in TIME-WAIT (a side that sent an active FIN and then saw the peer's FIN,
//! unless a RST ended the close early).

mod conn;
mod record;
mod seq;
mod state;
mod stream;
mod table;
mod verdict;

pub use conn::Connection;
pub use record::{
    Anomalies, Anomaly, CloseKind, ConnRecord, EndReason, Mark, Party, RolesBasis, SideStats,
};
pub use seq::SeqNumber;
pub use state::{transition, Event, TcpState};
pub use stream::{NoPayload, StreamHandler, MAX_HELD_TOTAL};
pub use table::{RecordSink, Tracker, TrackerConfig, TrackerStats, DEFAULT_MAX_CONNECTIONS};

#[cfg(test)]
mod tests;
