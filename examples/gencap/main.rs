//! Writes a large, deterministic, loopback-like HTTP capture for benchmarks (issue 6).
//!
//! ```text
//! cargo run --release --example gencap -- --out FILE --size 1G [--seed 42]
//!     [--concurrency 400] [--idle-ms 40] [--mix default|short] [--keep-open]
//!     [--link ethernet|sll|sll2|raw|null|mix]
//! ```
//!
//! The output is a legacy pcap with microsecond timestamps. `--link` chooses its link type:
//! `ethernet` (the default: zero MAC addresses, as `tcpdump -i lo` writes it), `sll` or `sll2`
//! (Linux cooked headers for lo, as `tcpdump -i any` writes them), `raw` (bare IP, as on a
//! tunnel) or `null` (BSD/macOS `lo0`). `mix` writes a pcapng instead, with one interface per
//! link type, and spreads the connections over them at random (each connection stays on one
//! interface), like a capture on several interfaces at once. The link type changes only the
//! framing: for a seed, the connections and their packets are the same whatever `--link` says
//! (the file size, and so where it stops, differ). Connections are simulated, not replayed: a fixed
//! number of client "slots" each run one connection after another, so several hundred are open
//! at once and their packets interleave in time order. Kinds:
//!
//! - `http10`: HTTP/1.0 `GET` with `Host`, response with `Content-Length`, the server closes
//!   (server FIN, client FIN+ACK, final ACK): server closes first, TIME-WAIT on the server.
//! - `keepalive`: HTTP/1.1 to a backend port, several requests, the client closes.
//! - `health`: `HEAD / HTTP/1.0` without `Host` from a checker with a narrow port range (so its
//!   4-tuples come back within seconds); the server closes.
//! - `abort`: the client gives up with RST+ACK, before or during the response.
//! - IPv6 (`::1`) for a share of `http10`, `keepalive` and `abort`.
//!
//! `--mix short` is denser: 90 % `http10` with nginx's 615-byte default page, 5 % `health`,
//! 5 % `abort`, no keep-alive (like `ab` against nginx; about 1.3 kB and 10 packets per
//! connection, close to a real loopback capture of short connections).
//! - `open` (only with `--keep-open`, and then nothing else): one HTTP/1.1 request and answer,
//!   then the connection stays open to the end, each from its own 4-tuple (clients 10.x.y.z).
//!   For measuring the memory finscope needs per still-open connection.
//!
//! Client ports cycle through an ephemeral range and skip ports still in use, so 4-tuples are
//! reused, as Linux does on loopback. Sequence and acknowledgment numbers are exact (every
//! packet acknowledges all the peer has sent), lengths are right, IPv4 header checksums are
//! computed, TCP checksums are left zero (as with checksum offload on `lo`).
//!
//! At the end it prints, as `key=value` lines on standard output, the connections of each kind
//! and the counts `finscope analyze --format json` must report in `totals`. Uses std only.

mod generate;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use generate::{generate, links_named, Spec};

/// `1G`, `200M`, `512K` or a plain byte count; decimal units (1G = 10^9 bytes).
fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1_000),
        b'M' | b'm' => (&s[..s.len() - 1], 1_000_000),
        b'G' | b'g' => (&s[..s.len() - 1], 1_000_000_000),
        _ => (s, 1),
    };
    let n: f64 = num.parse().ok()?;
    Some((n * mult as f64) as u64)
}

struct Args {
    out: String,
    spec: Spec,
}

fn parse_args() -> Result<Args, String> {
    let mut out = None;
    let mut size = None;
    let mut spec = Spec::new(0);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--out" => out = Some(val()?),
            "--size" => size = Some(parse_size(&val()?).ok_or("bad --size, e.g. 1G or 200M")?),
            "--seed" => spec.seed = val()?.parse().map_err(|_| "bad --seed")?,
            "--concurrency" => {
                spec.concurrency = val()?.parse().map_err(|_| "bad --concurrency")?
            }
            "--idle-ms" => spec.idle_ms = val()?.parse().map_err(|_| "bad --idle-ms")?,
            "--keep-open" => spec.keep_open = true,
            "--mix" => match val()?.as_str() {
                "default" => spec.short = false,
                "short" => spec.short = true,
                _ => return Err("--mix is default or short".into()),
            },
            "--link" => {
                spec.links =
                    links_named(&val()?).ok_or("--link is ethernet, sll, sll2, raw, null or mix")?
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    spec.size = size.ok_or("--size is required, e.g. 1G")?;
    spec.concurrency = spec.concurrency.max(1);
    Ok(Args {
        out: out.ok_or("--out FILE is required")?,
        spec,
    })
}

fn run(args: &Args) -> io::Result<()> {
    let file = BufWriter::with_capacity(1 << 20, File::create(&args.out)?);
    let outcome = generate(&args.spec, file)?;
    let mut o = io::stdout().lock();
    writeln!(o, "file={}", args.out)?;
    outcome.write_expected(&args.spec, &mut o)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gencap: {e}");
            eprintln!(
                "usage: gencap --out FILE --size 1G [--seed 42] [--concurrency 400] [--idle-ms 40] [--mix default|short] [--link ethernet|sll|sll2|raw|null|mix] [--keep-open]"
            );
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gencap: {}: {e}", args.out);
            ExitCode::from(2)
        }
    }
}
