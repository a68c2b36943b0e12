//! The generator behind `gencap` (see `main.rs` for what it writes). Kept apart from the
//! command line so that `benches/stages.rs` can build the same workload in memory at bench
//! time: the library stays free of benchmark code, and there is one generator, not two.
//! Uses std only.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

/// 2026-11-22 10:00:00 UTC, so the capture's times look like the rest of the project's.
const START_US: u64 = 1_795_341_600 * 1_000_000;
/// Loopback MSS as Linux advertises it on `lo` is 65483; real senders on `lo` hand tcpdump
/// segments of up to that size. Smaller segments keep the packet mix closer to a real network.
const MSS: usize = 16_384;
const EPHEMERAL: (u16, u16) = (32768, 60999);
const HEALTH_PORTS: (u16, u16) = (40000, 40127);

// TCP flags
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// splitmix64: tiny, fast and good enough for a workload mix; the same seed gives the same file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Exponentially distributed with the given mean, in whole microseconds (at least 1).
    fn exp_us(&mut self, mean_us: f64) -> u64 {
        let u = 1.0 - self.unit(); // (0, 1]
        ((-u.ln() * mean_us) as u64).max(1)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Http10,
    KeepAlive,
    Health,
    Abort,
    Open,
}

const KINDS: [Kind; 5] = [
    Kind::Http10,
    Kind::KeepAlive,
    Kind::Health,
    Kind::Abort,
    Kind::Open,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Http10 => "http10",
            Kind::KeepAlive => "keepalive",
            Kind::Health => "health",
            Kind::Abort => "abort",
            Kind::Open => "open",
        }
    }
}

#[derive(Clone, Copy)]
enum Addr {
    V4([u8; 4]),
    V6([u8; 16]),
}

const LO6: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// The link layer a packet is written with, as the capture tools that produce it write it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Link {
    /// `tcpdump -i lo`: Ethernet with zero MAC addresses.
    Ethernet,
    /// `tcpdump -i any` (older tcpdump, or `-y LINUX_SLL`): Linux cooked v1, loopback ARPHRD.
    Sll,
    /// `tcpdump -i any` (tcpdump 4.99+, or `-y LINUX_SLL2`): cooked v2 with the interface index.
    Sll2,
    /// An IP tunnel (`tun0`, WireGuard): no link header.
    Raw,
    /// BSD/macOS `lo0`: 4-byte address family in the writer's (here little-endian) byte order.
    Null,
}

const LINKS: [Link; 5] = [Link::Ethernet, Link::Sll, Link::Sll2, Link::Raw, Link::Null];

impl Link {
    fn name(self) -> &'static str {
        match self {
            Link::Ethernet => "ethernet",
            Link::Sll => "sll",
            Link::Sll2 => "sll2",
            Link::Raw => "raw",
            Link::Null => "null",
        }
    }

    /// LINKTYPE_* value.
    fn linktype(self) -> u16 {
        match self {
            Link::Ethernet => 1,
            Link::Sll => 113,
            Link::Sll2 => 276,
            Link::Raw => 101,
            Link::Null => 0,
        }
    }

    /// pcapng interface name, for `--link mix`.
    fn if_name(self) -> &'static str {
        match self {
            Link::Ethernet => "lo",
            Link::Sll => "any",
            Link::Sll2 => "any2",
            Link::Raw => "tun0",
            Link::Null => "lo0",
        }
    }

    /// Appends the link header for an IPv4 or IPv6 packet.
    fn header(self, b: &mut Vec<u8>, v6: bool) {
        let ethertype: u16 = if v6 { 0x86DD } else { 0x0800 };
        // ARPHRD_LOOPBACK, packet type 0 (to us), a 6-byte all-zero address, as `-i any` shows lo.
        const ARPHRD_LOOPBACK: u16 = 772;
        match self {
            Link::Ethernet => {
                b.extend_from_slice(&[0; 12]); // MACs: zero on lo
                b.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll => {
                b.extend_from_slice(&0u16.to_be_bytes());
                b.extend_from_slice(&ARPHRD_LOOPBACK.to_be_bytes());
                b.extend_from_slice(&6u16.to_be_bytes());
                b.extend_from_slice(&[0; 8]);
                b.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll2 => {
                b.extend_from_slice(&ethertype.to_be_bytes());
                b.extend_from_slice(&[0, 0]); // reserved
                b.extend_from_slice(&1u32.to_be_bytes()); // ifindex of lo
                b.extend_from_slice(&ARPHRD_LOOPBACK.to_be_bytes());
                b.extend_from_slice(&[0, 6]); // packet type, address length
                b.extend_from_slice(&[0; 8]);
            }
            Link::Raw => {}
            Link::Null => {
                // AF_INET 2; AF_INET6 30 as macOS numbers it.
                let family: u32 = if v6 { 30 } else { 2 };
                b.extend_from_slice(&family.to_le_bytes());
            }
        }
    }
}

/// Which client address a connection uses; each has its own port allocator.
#[derive(Clone, Copy)]
enum ClientId {
    Lo4 = 0,
    Checker4 = 1,
    Lo6 = 2,
    /// `--keep-open` clients: the address is derived from the connection number.
    Many4 = 3,
}

/// Hands out client ports in order through a range, skipping ports still in use, and notes
/// which (port, server) pairs were used before, to count 4-tuple repeats.
struct Ports {
    range: (u16, u16),
    next: u16,
    busy: Vec<bool>,
    /// Bit per server port index (80 = bit 0, 8080 = bit 1) per client port.
    used_with: Vec<u8>,
}

impl Ports {
    fn new(range: (u16, u16)) -> Self {
        Ports {
            range,
            next: range.0,
            busy: vec![false; 65536],
            used_with: vec![0; 65536],
        }
    }
    /// Returns the port and whether this 4-tuple was used before, or None if all are busy.
    fn take(&mut self, server_bit: u8) -> Option<(u16, bool)> {
        let span = (self.range.1 - self.range.0) as usize + 1;
        for _ in 0..span {
            let p = self.next;
            self.next = if p == self.range.1 {
                self.range.0
            } else {
                p + 1
            };
            if !self.busy[p as usize] {
                self.busy[p as usize] = true;
                let repeat = self.used_with[p as usize] & server_bit != 0;
                self.used_with[p as usize] |= server_bit;
                return Some((p, repeat));
            }
        }
        None
    }
    fn release(&mut self, p: u16) {
        self.busy[p as usize] = false;
    }
}

/// Payload of one packet: a range of its sender's stream bytes.
#[derive(Clone, Copy)]
struct Pkt {
    ts_us: u64,
    from_client: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    data_off: u32,
    data_len: u32,
}

struct Conn {
    client_id: ClientId,
    client: Addr,
    server: Addr,
    cport: u16,
    sport: u16,
    /// Bytes each side sends over the connection: [client, server].
    stream: [Vec<u8>; 2],
    pkts: Vec<Pkt>,
    pos: usize,
    /// Last TCP timestamp value each side sent, echoed by the other: [client, server].
    tsval: [u32; 2],
    /// Index into the writer's interfaces: a connection stays on one.
    iface: usize,
}

/// Builds a connection's packets in time order with exact sequence numbers: on loopback a
/// segment is delivered at once, so every packet acknowledges everything the peer has sent.
struct Script {
    t: u64,
    next_seq: [u32; 2],
    off: [u32; 2],
    syn_seen: [bool; 2],
    pkts: Vec<Pkt>,
}

impl Script {
    fn new(t: u64, isn: [u32; 2]) -> Self {
        Script {
            t,
            next_seq: isn,
            off: [0, 0],
            syn_seen: [false, false],
            pkts: Vec::new(),
        }
    }
    /// Sends one segment from side `s` (0 client, 1 server) `dt` µs after the previous one.
    fn send(&mut self, s: usize, flags: u8, len: u32, dt: u64) {
        self.t += dt;
        let ack = if flags & ACK != 0 {
            self.next_seq[1 - s]
        } else {
            0
        };
        self.pkts.push(Pkt {
            ts_us: self.t,
            from_client: s == 0,
            flags,
            seq: self.next_seq[s],
            ack,
            data_off: self.off[s],
            data_len: len,
        });
        let consumed = len + u32::from(flags & SYN != 0) + u32::from(flags & FIN != 0);
        self.next_seq[s] = self.next_seq[s].wrapping_add(consumed);
        self.off[s] += len;
        if flags & SYN != 0 {
            self.syn_seen[s] = true;
        }
    }
    /// Sends `len` stream bytes from side `s` in MSS-sized segments; the receiver acknowledges
    /// every second segment and the last one.
    fn send_data(&mut self, s: usize, len: u32, rng: &mut Rng, first_dt: u64) {
        let mut left = len;
        let mut n = 0;
        let mut dt = first_dt;
        while left > 0 {
            let chunk = left.min(MSS as u32);
            left -= chunk;
            let psh = if left == 0 { PSH } else { 0 };
            self.send(s, ACK | psh, chunk, dt);
            n += 1;
            if n % 2 == 0 || left == 0 {
                self.send(1 - s, ACK, 0, rng.range(3, 15));
            }
            dt = rng.range(2, 12);
        }
    }
}

const PATHS: [&str; 8] = [
    "/",
    "/index.html",
    "/api/v1/items",
    "/api/v1/orders?page=2",
    "/static/app.js",
    "/static/style.css",
    "/images/logo.png",
    "/healthz",
];

/// Response body size: mostly small API answers and pages, some assets, a few larger files.
fn body_len(rng: &mut Rng) -> u32 {
    let r = rng.unit();
    if r < 0.85 {
        rng.range(20, 700) as u32
    } else if r < 0.99 {
        rng.range(800, 4_000) as u32
    } else {
        rng.range(4_000, 40_000) as u32
    }
}

fn fill_body(buf: &mut Vec<u8>, len: u32) {
    const TEXT: &[u8] = b"<p>finscope benchmark body, nothing to see here.</p>\n";
    let mut left = len as usize;
    while left > 0 {
        let n = left.min(TEXT.len());
        buf.extend_from_slice(&TEXT[..n]);
        left -= n;
    }
}

/// Server think time before answering a request, µs: usually quick, sometimes slow.
fn think_us(rng: &mut Rng) -> u64 {
    if rng.chance(0.95) {
        rng.exp_us(400.0)
    } else {
        rng.exp_us(30_000.0)
    }
}

/// Answers a request after the server's think time; a delayed ACK goes first when slow.
fn respond(sc: &mut Script, rng: &mut Rng, len: u32) {
    let think = think_us(rng);
    if think > 40_000 {
        sc.send(1, ACK, 0, 40_000);
        sc.send_data(1, len, rng, think - 40_000);
    } else {
        sc.send_data(1, len, rng, think);
    }
}

fn handshake(sc: &mut Script, rng: &mut Rng) {
    sc.send(0, SYN, 0, 0);
    sc.send(1, SYN | ACK, 0, rng.range(5, 30));
    sc.send(0, ACK, 0, rng.range(3, 15));
}

struct Gen {
    rng: Rng,
    ports: [Ports; 4],
    counts: [[u64; 2]; 5],
    keep_open: bool,
    /// `--mix short`: ab against nginx's default page, the densest common case.
    short: bool,
    open_index: u64,
    tuple_repeats: u64,
    http_requests: u64,
    /// Number of interfaces (link types) connections are spread over.
    ifaces: usize,
    /// Picks each connection's interface; separate from `rng` so that the workload (and so the
    /// expected counts) for a seed does not depend on `--link`.
    iface_rng: Rng,
    /// Connections per interface.
    per_iface: Vec<u64>,
}

impl Gen {
    fn pick_iface(&mut self) -> usize {
        let i = if self.ifaces > 1 {
            (self.iface_rng.next() % self.ifaces as u64) as usize
        } else {
            0
        };
        self.per_iface[i] += 1;
        i
    }

    fn pick_kind(&mut self) -> Kind {
        let r = self.rng.unit();
        if self.short {
            return if r < 0.90 {
                Kind::Http10
            } else if r < 0.95 {
                Kind::Health
            } else {
                Kind::Abort
            };
        }
        if r < 0.55 {
            Kind::Http10
        } else if r < 0.75 {
            Kind::KeepAlive
        } else if r < 0.90 {
            Kind::Health
        } else {
            Kind::Abort
        }
    }

    fn build(&mut self, t0: u64) -> Conn {
        if self.keep_open {
            return self.build_open(t0);
        }
        let iface = self.pick_iface();
        let mut kind = self.pick_kind();
        let v6 = kind != Kind::Health && self.rng.chance(0.10);
        let sport: u16 = if kind == Kind::KeepAlive { 8080 } else { 80 };
        let server_bit = if sport == 80 { 1 } else { 2 };
        let mut client_id = match (kind, v6) {
            (Kind::Health, _) => ClientId::Checker4,
            (_, true) => ClientId::Lo6,
            (_, false) => ClientId::Lo4,
        };
        let (cport, repeat) = match self.ports[client_id as usize].take(server_bit) {
            Some(p) => p,
            None => {
                // All checker ports busy: make it an ordinary request instead.
                kind = Kind::Http10;
                client_id = ClientId::Lo4;
                self.ports[client_id as usize]
                    .take(server_bit)
                    .expect("thousands of ephemeral ports cannot all be busy")
            }
        };
        self.tuple_repeats += u64::from(repeat);
        self.counts[kind as usize][usize::from(v6)] += 1;
        let (client, server) = match client_id {
            ClientId::Lo4 => (Addr::V4([127, 0, 0, 1]), Addr::V4([127, 0, 0, 1])),
            ClientId::Checker4 => (Addr::V4([127, 0, 0, 3]), Addr::V4([127, 0, 0, 1])),
            ClientId::Lo6 => (Addr::V6(LO6), Addr::V6(LO6)),
            ClientId::Many4 => unreachable!("only --keep-open uses it"),
        };
        let host = match (v6, sport) {
            (true, 80) => "[::1]".to_string(),
            (true, _) => format!("[::1]:{sport}"),
            (false, 80) => "localhost".to_string(),
            (false, _) => format!("127.0.0.1:{sport}"),
        };

        let rng = &mut self.rng;
        let isn = [rng.next() as u32, rng.next() as u32];
        let mut sc = Script::new(t0, isn);
        let mut cs = Vec::new();
        let mut ss = Vec::new();
        handshake(&mut sc, rng);
        match kind {
            Kind::Http10 => {
                let path = PATHS[rng.range(0, 6) as usize];
                write!(
                    cs,
                    "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n"
                )
                .unwrap();
                let body = if self.short { 615 } else { body_len(rng) };
                write!(
                    ss,
                    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 10:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: {body}\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                fill_body(&mut ss, body);
                sc.send(0, ACK | PSH, cs.len() as u32, rng.range(5, 40));
                respond(&mut sc, rng, ss.len() as u32);
                // Server closes right after writing; the client reads EOF and closes, its FIN
                // acknowledging the server's; the server's last ACK ends it.
                sc.send(1, FIN | ACK, 0, rng.range(3, 20));
                sc.send(0, FIN | ACK, 0, rng.range(15, 200));
                sc.send(1, ACK, 0, rng.range(3, 15));
                self.http_requests += 1;
            }
            Kind::KeepAlive => {
                let n = rng.range(2, 20);
                for i in 0..n {
                    let path = PATHS[rng.range(0, 7) as usize];
                    let req_start = cs.len();
                    write!(
                        cs,
                        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n"
                    )
                    .unwrap();
                    let body = body_len(rng);
                    let resp_start = ss.len();
                    write!(
                        ss,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body}\r\nDate: Sun, 22 Nov 2026 10:00:00 GMT\r\n\r\n"
                    )
                    .unwrap();
                    fill_body(&mut ss, body);
                    let gap = if i == 0 {
                        rng.range(5, 40)
                    } else {
                        rng.exp_us(5_000.0)
                    };
                    sc.send(0, ACK | PSH, (cs.len() - req_start) as u32, gap);
                    respond(&mut sc, rng, (ss.len() - resp_start) as u32);
                }
                // Client pool closes an idle connection; the server acknowledges, then closes.
                sc.send(0, FIN | ACK, 0, rng.exp_us(20_000.0));
                if rng.chance(0.5) {
                    sc.send(1, ACK, 0, rng.range(3, 15));
                }
                sc.send(1, FIN | ACK, 0, rng.range(10, 100));
                sc.send(0, ACK, 0, rng.range(3, 15));
                self.http_requests += n;
            }
            Kind::Health => {
                cs.extend_from_slice(b"HEAD / HTTP/1.0\r\n\r\n");
                // A HEAD response announces a length but carries no body.
                ss.extend_from_slice(
                    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\nContent-Length: 615\r\nConnection: close\r\n\r\n",
                );
                sc.send(0, ACK | PSH, cs.len() as u32, rng.range(5, 40));
                sc.send(1, ACK | PSH, ss.len() as u32, rng.range(20, 200));
                sc.send(1, FIN | ACK, 0, rng.range(3, 20));
                sc.send(0, ACK, 0, rng.range(3, 15));
                sc.send(0, FIN | ACK, 0, rng.range(10, 100));
                sc.send(1, ACK, 0, rng.range(3, 15));
                self.http_requests += 1;
            }
            Kind::Abort => {
                let path = PATHS[rng.range(0, 6) as usize];
                write!(
                    cs,
                    "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
                )
                .unwrap();
                sc.send(0, ACK | PSH, cs.len() as u32, rng.range(5, 40));
                if rng.chance(0.5) {
                    // Client timeout before any answer: the server only acknowledged.
                    sc.send(1, ACK, 0, 40_000);
                    sc.send(0, RST | ACK, 0, rng.exp_us(200_000.0));
                } else {
                    // The client drops a large download part-way.
                    let body = rng.range(8_000, 64_000) as u32;
                    write!(
                        ss,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {body}\r\n\r\n"
                    )
                    .unwrap();
                    fill_body(&mut ss, body);
                    let sent = (ss.len() as u32 / 2).max(1);
                    let first = rng.range(50, 500);
                    sc.send_data(1, sent, rng, first);
                    sc.send(0, RST | ACK, 0, rng.range(10, 100));
                }
                self.http_requests += 1;
            }
            Kind::Open => unreachable!("built by build_open"),
        }
        Conn {
            client_id,
            client,
            server,
            cport,
            sport,
            stream: [cs, ss],
            pkts: sc.pkts,
            pos: 0,
            tsval: [0, 0],
            iface,
        }
    }
}

impl Gen {
    /// A connection that is never closed, on a 4-tuple of its own.
    fn build_open(&mut self, t0: u64) -> Conn {
        let iface = self.pick_iface();
        let span = u64::from(EPHEMERAL.1 - EPHEMERAL.0) + 1;
        let (host, port) = (self.open_index / span, self.open_index % span);
        self.open_index += 1;
        self.counts[Kind::Open as usize][0] += 1;
        let client = Addr::V4([10, (host >> 16) as u8, (host >> 8) as u8, host as u8]);
        let rng = &mut self.rng;
        let isn = [rng.next() as u32, rng.next() as u32];
        let mut sc = Script::new(t0, isn);
        let mut cs = Vec::new();
        let mut ss = Vec::new();
        handshake(&mut sc, rng);
        cs.extend_from_slice(b"GET /events HTTP/1.1\r\nHost: 10.255.255.254\r\n\r\n");
        ss.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n");
        sc.send(0, ACK | PSH, cs.len() as u32, rng.range(5, 40));
        respond(&mut sc, rng, ss.len() as u32);
        self.http_requests += 1;
        Conn {
            client_id: ClientId::Many4,
            client,
            server: Addr::V4([10, 255, 255, 254]),
            cport: EPHEMERAL.0 + port as u16,
            sport: 80,
            stream: [cs, ss],
            pkts: sc.pkts,
            pos: 0,
            tsval: [0, 0],
            iface,
        }
    }
}

/// The file format: one link type in a legacy pcap, or several interfaces in a pcapng.
enum Container {
    Pcap(Link),
    /// One interface per link type; a packet's connection says which.
    PcapNg(Vec<Link>),
}

const SNAPLEN: u32 = 262_144;
/// Legacy pcap record header.
const PCAP_RECORD: usize = 16;
/// pcapng enhanced packet block up to the packet data.
const EPB_HEAD: usize = 28;

struct Writer<W: Write> {
    out: W,
    container: Container,
    bytes: u64,
    packets: u64,
    ip_id: u16,
    buf: Vec<u8>,
}

impl<W: Write> Writer<W> {
    fn header(&mut self) -> io::Result<()> {
        let mut h = Vec::with_capacity(256);
        match &self.container {
            Container::Pcap(link) => {
                h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
                h.extend_from_slice(&2u16.to_le_bytes());
                h.extend_from_slice(&4u16.to_le_bytes());
                h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
                h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
                h.extend_from_slice(&SNAPLEN.to_le_bytes());
                h.extend_from_slice(&u32::from(link.linktype()).to_le_bytes());
            }
            Container::PcapNg(links) => {
                // Section header: byte-order magic, version 1.0, section length unknown.
                let mut shb = Vec::new();
                shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
                shb.extend_from_slice(&1u16.to_le_bytes());
                shb.extend_from_slice(&0u16.to_le_bytes());
                shb.extend_from_slice(&(-1i64).to_le_bytes());
                ng_block(&mut h, 0x0a0d_0d0a, &shb);
                // One interface per link type; no if_tsresol option, so microseconds.
                for link in links {
                    let mut idb = Vec::new();
                    idb.extend_from_slice(&link.linktype().to_le_bytes());
                    idb.extend_from_slice(&0u16.to_le_bytes()); // reserved
                    idb.extend_from_slice(&SNAPLEN.to_le_bytes());
                    let name = link.if_name().as_bytes();
                    idb.extend_from_slice(&2u16.to_le_bytes()); // if_name
                    idb.extend_from_slice(&(name.len() as u16).to_le_bytes());
                    idb.extend_from_slice(name);
                    idb.resize(idb.len().next_multiple_of(4), 0);
                    idb.extend_from_slice(&[0; 4]); // opt_endofopt
                    ng_block(&mut h, 1, &idb);
                }
            }
        }
        self.out.write_all(&h)?;
        self.bytes += h.len() as u64;
        Ok(())
    }

    fn packet(&mut self, c: &mut Conn, p: Pkt) -> io::Result<()> {
        let s = usize::from(!p.from_client);
        let (src, dst, sp, dp) = if p.from_client {
            (c.client, c.server, c.cport, c.sport)
        } else {
            (c.server, c.client, c.sport, c.cport)
        };
        // TCP options as Linux sends them on lo: SYNs carry MSS, SACK-permitted, timestamps
        // and window scale; other segments carry timestamps only.
        let syn = p.flags & SYN != 0;
        let opt_len = if syn { 20 } else { 12 };
        let tcp_len = 20 + opt_len;
        let tsval = (p.ts_us / 1000) as u32 ^ 0x5a5a_0000;
        let tsecr = if p.flags & ACK != 0 {
            c.tsval[1 - s]
        } else {
            0
        };
        c.tsval[s] = tsval;
        let payload = &c.stream[s][p.data_off as usize..(p.data_off + p.data_len) as usize];

        let (link, record_head) = match &self.container {
            Container::Pcap(link) => (*link, PCAP_RECORD),
            Container::PcapNg(links) => (links[c.iface], EPB_HEAD),
        };
        let b = &mut self.buf;
        b.clear();
        b.resize(record_head, 0); // record header, filled below
        link.header(b, matches!(src, Addr::V6(_)));
        match (src, dst) {
            (Addr::V4(s4), Addr::V4(d4)) => {
                let total = (20 + tcp_len + payload.len()) as u16;
                let start = b.len();
                b.extend_from_slice(&[0x45, 0]);
                b.extend_from_slice(&total.to_be_bytes());
                b.extend_from_slice(&self.ip_id.to_be_bytes());
                b.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]);
                b.extend_from_slice(&s4);
                b.extend_from_slice(&d4);
                let sum = ipv4_checksum(&b[start..start + 20]);
                b[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
                self.ip_id = self.ip_id.wrapping_add(1);
            }
            (Addr::V6(s6), Addr::V6(d6)) => {
                let flow = u32::from(c.cport).wrapping_mul(2_654_435_761) & 0x000f_ffff;
                b.extend_from_slice(&(0x6000_0000 | flow).to_be_bytes());
                b.extend_from_slice(&((tcp_len + payload.len()) as u16).to_be_bytes());
                b.extend_from_slice(&[6, 64]);
                b.extend_from_slice(&s6);
                b.extend_from_slice(&d6);
            }
            _ => unreachable!("both ends of a connection share a family"),
        }
        b.extend_from_slice(&sp.to_be_bytes());
        b.extend_from_slice(&dp.to_be_bytes());
        b.extend_from_slice(&p.seq.to_be_bytes());
        b.extend_from_slice(&p.ack.to_be_bytes());
        b.push(((tcp_len / 4) as u8) << 4);
        b.push(p.flags);
        let window: u16 = if syn { 65495 } else { 512 };
        b.extend_from_slice(&window.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]); // checksum (offloaded on lo), urgent pointer
        if syn {
            b.extend_from_slice(&[2, 4, 0xff, 0xd7, 4, 2, 8, 10]);
            b.extend_from_slice(&tsval.to_be_bytes());
            b.extend_from_slice(&tsecr.to_be_bytes());
            b.extend_from_slice(&[1, 3, 3, 7]);
        } else {
            b.extend_from_slice(&[1, 1, 8, 10]);
            b.extend_from_slice(&tsval.to_be_bytes());
            b.extend_from_slice(&tsecr.to_be_bytes());
        }
        b.extend_from_slice(payload);
        let frame_len = (b.len() - record_head) as u32;
        match &self.container {
            Container::Pcap(_) => {
                b[0..4].copy_from_slice(&((p.ts_us / 1_000_000) as u32).to_le_bytes());
                b[4..8].copy_from_slice(&((p.ts_us % 1_000_000) as u32).to_le_bytes());
                b[8..12].copy_from_slice(&frame_len.to_le_bytes());
                b[12..16].copy_from_slice(&frame_len.to_le_bytes());
            }
            Container::PcapNg(_) => {
                // Enhanced packet block: data padded to 32 bits, no options.
                b.resize(b.len().next_multiple_of(4), 0);
                let block_len = (b.len() + 4) as u32;
                b.extend_from_slice(&block_len.to_le_bytes());
                b[0..4].copy_from_slice(&6u32.to_le_bytes());
                b[4..8].copy_from_slice(&block_len.to_le_bytes());
                b[8..12].copy_from_slice(&(c.iface as u32).to_le_bytes());
                b[12..16].copy_from_slice(&((p.ts_us >> 32) as u32).to_le_bytes());
                b[16..20].copy_from_slice(&(p.ts_us as u32).to_le_bytes());
                b[20..24].copy_from_slice(&frame_len.to_le_bytes());
                b[24..28].copy_from_slice(&frame_len.to_le_bytes());
            }
        }
        self.out.write_all(b)?;
        self.bytes += b.len() as u64;
        self.packets += 1;
        Ok(())
    }
}

/// Appends a pcapng block (little-endian) of type `kind` around `body` (already padded).
fn ng_block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let len = (12 + body.len()) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&len.to_le_bytes());
}

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What to generate; `main.rs` fills it from the command line.
#[derive(Clone, Debug)]
pub struct Spec {
    /// No connection starts once this many bytes are written.
    pub size: u64,
    pub seed: u64,
    /// Client slots, each running one connection after another.
    pub concurrency: usize,
    /// Mean pause between a slot's connections, ms.
    pub idle_ms: f64,
    pub keep_open: bool,
    /// `--mix short`.
    pub short: bool,
    /// The link types connections are written with; more than one means pcapng.
    pub links: Vec<Link>,
}

impl Spec {
    /// The defaults of the command line: seed 42, 400 slots, 40 ms idle, `default` mix,
    /// Ethernet.
    pub fn new(size: u64) -> Spec {
        Spec {
            size,
            seed: 42,
            concurrency: 400,
            idle_ms: 40.0,
            keep_open: false,
            short: false,
            links: vec![Link::Ethernet],
        }
    }
}

/// `--link` values: one link type by name, or `mix` for all of them.
pub fn links_named(name: &str) -> Option<Vec<Link>> {
    match LINKS.iter().find(|l| l.name() == name) {
        Some(l) => Some(vec![*l]),
        None if name == "mix" => Some(LINKS.to_vec()),
        None => None,
    }
}

/// What was written: the counts the expected totals come from.
pub struct Outcome {
    pub bytes: u64,
    pub packets: u64,
    last_ts: u64,
    counts: [[u64; 2]; 5],
    http_requests: u64,
    peak_open: u64,
    tuple_repeats: u64,
    per_iface: Vec<u64>,
}

/// Writes the capture `spec` describes to `out`.
pub fn generate(spec: &Spec, out: impl Write) -> io::Result<Outcome> {
    let mut g = Gen {
        rng: Rng(spec.seed),
        ports: [
            Ports::new(EPHEMERAL),
            Ports::new(HEALTH_PORTS),
            Ports::new(EPHEMERAL),
            Ports::new(EPHEMERAL),
        ],
        counts: [[0; 2]; 5],
        keep_open: spec.keep_open,
        short: spec.short,
        open_index: 0,
        tuple_repeats: 0,
        http_requests: 0,
        ifaces: spec.links.len(),
        iface_rng: Rng(spec.seed ^ 0x6c69_6e6b_6d69_7800),
        per_iface: vec![0; spec.links.len()],
    };
    let mut w = Writer {
        out,
        container: match spec.links[..] {
            [one] => Container::Pcap(one),
            _ => Container::PcapNg(spec.links.clone()),
        },
        bytes: 0,
        packets: 0,
        ip_id: 1,
        buf: Vec::with_capacity(MSS + 256),
    };
    w.header()?;

    let idle_us = spec.idle_ms * 1000.0;
    let mut slots: Vec<Conn> = Vec::with_capacity(spec.concurrency);
    // (time of the slot's next packet, tie-breaker, slot): a min-heap interleaves all slots.
    let mut heap = BinaryHeap::new();
    let mut order: u64 = 0;
    for i in 0..spec.concurrency {
        let t0 = START_US + g.rng.exp_us(idle_us);
        let c = g.build(t0);
        heap.push(Reverse((c.pkts[0].ts_us, order, i)));
        order += 1;
        slots.push(c);
    }
    let (mut open, mut peak_open) = (0u64, 0u64);
    let mut stopping = false;
    let mut last_ts = START_US;
    while let Some(Reverse((_, _, i))) = heap.pop() {
        let c = &mut slots[i];
        let p = c.pkts[c.pos];
        if c.pos == 0 {
            open += 1;
            peak_open = peak_open.max(open);
        }
        c.pos += 1;
        w.packet(c, p)?;
        last_ts = p.ts_us;
        if c.pos < c.pkts.len() {
            heap.push(Reverse((c.pkts[c.pos].ts_us, order, i)));
            order += 1;
            continue;
        }
        open -= 1;
        let (id, port) = (c.client_id, c.cport);
        g.ports[id as usize].release(port);
        stopping |= w.bytes >= spec.size;
        if !stopping {
            let t0 = p.ts_us + g.rng.exp_us(idle_us);
            let next = g.build(t0);
            heap.push(Reverse((next.pkts[0].ts_us, order, i)));
            order += 1;
            slots[i] = next;
        }
    }
    w.out.flush()?;
    Ok(Outcome {
        bytes: w.bytes,
        packets: w.packets,
        last_ts,
        counts: g.counts,
        http_requests: g.http_requests,
        peak_open,
        tuple_repeats: g.tuple_repeats,
        per_iface: g.per_iface,
    })
}

impl Outcome {
    /// The `key=value` lines `gencap` prints after `file=`: what was written, and the counts
    /// `finscope analyze --format json` must report in `totals` (`expect_*`).
    pub fn write_expected(&self, spec: &Spec, o: &mut impl Write) -> io::Result<()> {
        let total: u64 = self.counts.iter().flatten().sum();
        let n = |k: Kind| self.counts[k as usize][0] + self.counts[k as usize][1];
        writeln!(o, "seed={}", spec.seed)?;
        let link_names: Vec<&str> = spec.links.iter().map(|l| l.name()).collect();
        writeln!(o, "link={}", link_names.join(","))?;
        if spec.links.len() > 1 {
            for (l, n) in spec.links.iter().zip(&self.per_iface) {
                writeln!(o, "connections_on_{}={n}", l.name())?;
            }
        }
        writeln!(o, "bytes={}", self.bytes)?;
        writeln!(o, "packets={}", self.packets)?;
        writeln!(
            o,
            "capture_seconds={:.3}",
            (self.last_ts - START_US) as f64 / 1e6
        )?;
        for k in KINDS {
            writeln!(o, "kind_{}_ipv4={}", k.name(), self.counts[k as usize][0])?;
            writeln!(o, "kind_{}_ipv6={}", k.name(), self.counts[k as usize][1])?;
        }
        writeln!(o, "http_requests={}", self.http_requests)?;
        writeln!(o, "peak_open_connections={}", self.peak_open)?;
        writeln!(o, "tuple_repeats={}", self.tuple_repeats)?;
        // What `finscope analyze --format json` must put in `totals`.
        writeln!(o, "expect_connections={total}")?;
        writeln!(
            o,
            "expect_closed_by_client={}",
            n(Kind::KeepAlive) + n(Kind::Abort)
        )?;
        writeln!(
            o,
            "expect_closed_by_server={}",
            n(Kind::Http10) + n(Kind::Health)
        )?;
        writeln!(o, "expect_closed_simultaneously=0")?;
        writeln!(o, "expect_aborted_by_client={}", n(Kind::Abort))?;
        writeln!(o, "expect_aborted_by_server=0")?;
        writeln!(
            o,
            "expect_close_fin={}",
            n(Kind::Http10) + n(Kind::KeepAlive) + n(Kind::Health)
        )?;
        writeln!(o, "expect_close_rst={}", n(Kind::Abort))?;
        writeln!(o, "expect_still_open={}", n(Kind::Open))?;
        writeln!(o, "expect_half_closed=0")?;
        writeln!(
            o,
            "expect_time_wait_on_server={}",
            n(Kind::Http10) + n(Kind::Health)
        )?;
        writeln!(o, "expect_time_wait_on_client={}", n(Kind::KeepAlive))?;
        Ok(())
    }
}
