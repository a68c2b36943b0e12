//! finscope reads packet captures offline and tells, for every TCP connection, who opened it,
//! who closed it first (FIN or RST) and which host is left holding TIME-WAIT.
//!
//! Data flows one way:
//!
//! ```text
//! capture ──Frame──▶ decode ──Segment──▶ tcp (+http) ──ConnRecord──▶ analysis ──Summary──▶ report ──▶ cli
//!  (pcap, pcapng,     (link, IP, TCP     (per-side RFC 9293     (per endpoint,       (text, json,
//!   gzip, stdin)       headers)           states, verdict)       per host)            ndjson, csv)
//! ```
//!
//! A module may use the ones to its left, never the ones to its right. [`pipeline`] drives the
//! road for a set of inputs; [`cli`] is the only place that prints.

pub mod analysis;
pub mod capture;
pub mod chart;
pub mod cli;
pub mod decode;
pub mod http;
pub mod net;
pub mod pipeline;
pub mod report;
pub mod tcp;
pub mod time;
