//! The command line: argument parsing (clap), progress (indicatif), exit codes. The only
//! module that prints.
//!
//! Exit codes: 0 done (warnings allowed), 1 a check the user asked for failed, 2 error.
//! A closed stdout pipe ends quietly with 0.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

mod out;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pipeline::{self, Config, DirectIo, PipelineError};
use crate::report;
use crate::time::Duration;

#[derive(Parser)]
#[command(
    name = "finscope",
    version,
    about = "Who closed each TCP connection first, and who is left holding TIME-WAIT",
    long_about = "Reads tcpdump captures (pcap, pcapng, gzip-compressed, or - for standard input) \
                  and tells, for every TCP connection, who opened it, who closed it first \
                  (FIN or RST) and which host is left holding TIME-WAIT."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Summarise who closes first, per server endpoint and per host.
    Analyze {
        /// Capture files (pcap, pcapng, .gz by content); `-` reads standard input. Several
        /// files are read as one stream in order of their first packet.
        #[arg(required = true, value_name = "CAPTURE")]
        captures: Vec<String>,
        #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
        format: SummaryFormat,
        #[command(flatten)]
        out: OutArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Before vs after a change: did it work, on which hop, by how much.
    ///
    /// `finscope compare BEFORE... -- AFTER...`: each side may be several files (a rotated
    /// set). Endpoints and hosts are matched by address (client ports never matter); rates
    /// and per-request ratios are compared, not raw counts.
    Compare {
        /// Captures taken before the change.
        #[arg(required = true, value_name = "BEFORE")]
        before: Vec<String>,
        /// Captures taken after the change, after `--`.
        #[arg(last = true, required = true, value_name = "AFTER")]
        after: Vec<String>,
        #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
        format: SummaryFormat,
        /// Treat an endpoint or host of BEFORE as another one in AFTER:
        /// `10.0.0.5:8080=10.0.0.6:8080` or `10.0.0.5=10.0.0.6`. Repeatable.
        #[arg(long = "map", value_name = "OLD=NEW")]
        map: Vec<String>,
        /// Relative change (percent) below which a figure counts as unchanged.
        #[arg(long, default_value_t = 20.0, value_name = "PERCENT")]
        threshold: f64,
        /// Exit with 1 when any watched figure got worse by more than the threshold (for a
        /// deployment check).
        #[arg(long)]
        fail_if_worse: bool,
        #[command(flatten)]
        out: OutArgs,
        #[command(flatten)]
        common: Common,
    },
    /// One record per connection, written as soon as the connection is over.
    Conns {
        #[arg(required = true, value_name = "CAPTURE")]
        captures: Vec<String>,
        #[arg(long, value_enum, default_value_t = RecordFormat::Ndjson)]
        format: RecordFormat,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Args)]
struct Common {
    /// Seconds of capture time a finished connection is kept for trailing segments (a last
    /// ACK, a retransmitted FIN, a RST) before its record is final.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    linger: f64,
    /// Never show a progress bar.
    #[arg(long)]
    no_progress: bool,
    /// How long a host holds TIME-WAIT: `60s` for all (Linux), or `HOST=DURATION` for one
    /// host (e.g. `10.0.0.5=120s` for Windows). Repeatable.
    #[arg(long = "time-wait", value_name = "[HOST=]DURATION")]
    time_wait: Vec<String>,
    /// Most connections held in memory at once; when full, the longest-idle are reported
    /// early (as `evicted`) and let go. About 2 KB each.
    #[arg(long, default_value_t = crate::tcp::DEFAULT_MAX_CONNECTIONS, value_name = "N")]
    max_connections: usize,
    /// Worker threads that track connections (a reader thread is added when more than 1).
    /// The output is the same for every value. Default: the number of CPUs, at most 16 (1 when
    /// the files are read with direct I/O on 2 CPUs or fewer).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Threads that read a capture file ahead in blocks for the reader thread (only with more
    /// than one worker, and inputs that are regular files). Default: 0 on up to 2 CPUs,
    /// where they would only compete with the workers; 1 on 3 to 7; 2 on 8 and more.
    #[arg(long, value_name = "N")]
    read_ahead: Option<usize>,
    /// Read capture files with direct I/O (Linux `O_DIRECT`): from the disk, past the page
    /// cache, which it leaves to the host's services, and without the kernel's copy of every
    /// byte (less CPU). Slower than the page cache when the file is in it and the disk is slow.
    /// Regular files only; read ahead by at least one thread. `auto` (the default): when most
    /// of the inputs' bytes (64 MiB or more) are not in the page cache and are on a local
    /// disk. `--direct-io` alone means `on`.
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        default_value_t = DirectIoWhen::Auto,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "on"
    )]
    direct_io: DirectIoWhen,
    /// Client ephemeral port range, for port-pressure figures.
    #[arg(long, default_value = "32768-60999", value_name = "LOW-HIGH")]
    port_range: String,
}

/// When to read with direct I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DirectIoWhen {
    /// When the inputs are mostly out of the page cache.
    Auto,
    /// Always (files that cannot be read so get a warning).
    On,
    /// Never: through the page cache.
    Off,
}

/// `90s`, `2m`, `1500ms` or a bare number of seconds.
fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("`{s}` is not a duration (try 60s, 2m, 500ms)"))?;
    let scale = match unit {
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => anyhow::bail!("`{s}`: unknown unit `{unit}` (use ms, s, m or h)"),
    };
    if !(n.is_finite() && n >= 0.0) {
        anyhow::bail!("`{s}` must be a non-negative duration");
    }
    Ok(Duration((n * scale) as i64))
}

/// `--map OLD=NEW` pairs: endpoints (`ip:port`, IPv6 as `[addr]:port`) or hosts (IPs).
fn parse_renames(map: &[String]) -> anyhow::Result<crate::analysis::Renames> {
    let mut r = crate::analysis::Renames::default();
    for m in map {
        let (old, new) = m
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--map {m}: expected OLD=NEW"))?;
        let ep = |s: &str| -> Option<crate::net::Endpoint> {
            s.trim()
                .parse::<std::net::SocketAddr>()
                .ok()
                .map(|a| crate::net::Endpoint::new(a.ip(), a.port()))
        };
        let ip = |s: &str| s.trim().parse::<std::net::IpAddr>().ok();
        match (ep(old), ep(new), ip(old), ip(new)) {
            (Some(o), Some(n), _, _) => {
                r.endpoints.insert(o, n);
            }
            (_, _, Some(o), Some(n)) => {
                r.hosts.insert(o, n);
            }
            _ => anyhow::bail!(
                "--map {m}: give two endpoints (10.0.0.5:8080=10.0.0.6:8080) or two hosts (10.0.0.5=10.0.0.6)"
            ),
        }
    }
    Ok(r)
}

fn time_wait_config(common: &Common) -> anyhow::Result<crate::analysis::TimeWaitConfig> {
    let mut cfg = crate::analysis::TimeWaitConfig::default();
    for tw in &common.time_wait {
        match tw.split_once('=') {
            Some((host, d)) => {
                let ip = host.trim().parse().map_err(|_| {
                    anyhow::anyhow!("--time-wait {tw}: `{host}` is not an IP address")
                })?;
                cfg.per_host.insert(ip, parse_duration(d)?);
            }
            None => cfg.hold = parse_duration(tw)?,
        }
    }
    let bad = || {
        anyhow::anyhow!(
            "--port-range {}: expected LOW-HIGH, e.g. 32768-60999",
            common.port_range
        )
    };
    let (lo, hi) = common.port_range.split_once('-').ok_or_else(bad)?;
    let (lo, hi): (u16, u16) = (
        lo.trim().parse().map_err(|_| bad())?,
        hi.trim().parse().map_err(|_| bad())?,
    );
    if lo > hi {
        return Err(bad());
    }
    cfg.port_range = (lo, hi);
    Ok(cfg)
}

#[derive(Clone, Copy, ValueEnum)]
enum SummaryFormat {
    Text,
    Json,
    Markdown,
    Html,
}

/// Where a report directory goes.
#[derive(clap::Args)]
struct OutArgs {
    /// Also write a report directory: report.html (self-contained), report.md, report.json
    /// and charts/*.svg + *.png (compare.* for `compare`).
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
    /// Write into a non-empty --out directory that finscope did not create.
    #[arg(long)]
    force: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum RecordFormat {
    Ndjson,
    Csv,
}

/// Runs the command line and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("finscope: error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, each said once: an error whose message already ends
/// with its cause's (`PATH: No such file or directory`) is not followed by it again, as `{:#}`
/// would.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain().map(ToString::to_string) {
        if line.is_empty() {
            line = cause;
        } else if !line.ends_with(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || matches!(c.downcast_ref::<PipelineError>(), Some(PipelineError::Output(io)) if io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// One worker per CPU, up to 16; with direct I/O on 2 CPUs or fewer, one, since the thread
/// that reads ahead needs a CPU too: there, one worker with direct I/O took as long as two
/// without, and two with it longer (docs/performance-history.md, "What the eighth session
/// measured").
fn default_threads(direct_io: bool) -> usize {
    match std::thread::available_parallelism().map_or(1, |n| n.get()) {
        0..=2 if direct_io => 1,
        n => n.min(16),
    }
}

/// Read-ahead threads by CPU count: the reader thread limits a run with several workers once
/// there are CPUs to spare for them (docs/performance.md, "Threads").
fn default_read_ahead() -> usize {
    match std::thread::available_parallelism().map_or(1, |n| n.get()) {
        0..=2 => 0,
        3..=7 => 1,
        _ => 2,
    }
}

/// The run's settings; `inputs` are every capture it reads, for choosing direct I/O.
fn config<'a>(
    common: &Common,
    inputs: impl IntoIterator<Item = &'a String>,
) -> anyhow::Result<Config> {
    if !(common.linger.is_finite() && common.linger >= 0.0) {
        anyhow::bail!("--linger must be a number of seconds >= 0");
    }
    let direct_io = match common.direct_io {
        DirectIoWhen::Auto => DirectIo::auto(inputs),
        DirectIoWhen::On => DirectIo::On,
        DirectIoWhen::Off => DirectIo::Off,
    };
    Ok(Config {
        linger: Duration((common.linger * 1e9) as i64),
        time_wait: time_wait_config(common)?,
        max_connections: common.max_connections.max(1),
        threads: common
            .threads
            .unwrap_or_else(|| default_threads(direct_io.used()))
            .max(1),
        read_ahead: common.read_ahead.unwrap_or_else(default_read_ahead),
        direct_io,
        ..Config::default()
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Analyze {
            captures,
            format,
            out: out_args,
            common,
        } => {
            let cfg = config(&common, &captures)?;
            let bar = progress_bar(&captures, common.no_progress);
            let summary = pipeline::analyze(&captures, &cfg, &mut |n| bar.set_position(n));
            bar.finish_and_clear();
            let summary = summary?;
            for w in &summary.data_quality.warnings {
                eprintln!("finscope: warning: {w}");
            }
            if let Some(dir) = &out_args.out {
                out::prepare(dir, out_args.force)?;
                let rendered =
                    out::render_charts(crate::chart::report_charts(&summary), Some(dir))?;
                let refs = out::refs(&rendered);
                out::write_file(dir, "report.json", |w| report::write_json(w, &summary))?;
                out::write_file(dir, "report.md", |w| {
                    report::write_markdown(w, &summary, &refs)
                })?;
                out::write_file(dir, "report.html", |w| {
                    report::write_html(w, &summary, &refs)
                })?;
                eprintln!(
                    "finscope: wrote {} (report.html, report.md, report.json, {} charts)",
                    dir.display(),
                    rendered.len()
                );
            }
            let inline = match format {
                SummaryFormat::Html => {
                    out::render_charts(crate::chart::report_charts(&summary), None)?
                }
                _ => Vec::new(),
            };
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            match format {
                SummaryFormat::Text => report::write_text(&mut out, &summary),
                SummaryFormat::Json => report::write_json(&mut out, &summary),
                SummaryFormat::Markdown => report::write_markdown(&mut out, &summary, &[]),
                SummaryFormat::Html => report::write_html(&mut out, &summary, &out::refs(&inline)),
            }
            .and_then(|_| out.flush())
            .context("writing the summary")?;
        }
        Command::Compare {
            before,
            after,
            format,
            map,
            threshold,
            fail_if_worse,
            out: out_args,
            common,
        } => {
            let cfg = config(&common, before.iter().chain(&after))?;
            let renames = parse_renames(&map)?;
            if !(threshold.is_finite() && threshold >= 0.0) {
                anyhow::bail!("--threshold must be a percentage >= 0");
            }
            // The two sides are independent: read them at the same time, sharing the workers.
            let cfg = Config {
                threads: cfg.threads.div_ceil(2),
                ..cfg
            };
            let (b, a) = std::thread::scope(|scope| {
                let tb = scope.spawn(|| pipeline::analyze(&before, &cfg, &mut |_| {}));
                let a = pipeline::analyze(&after, &cfg, &mut |_| {});
                (tb.join(), a)
            });
            let b = b.map_err(|_| anyhow::anyhow!("reading the BEFORE captures failed"))??;
            let a = a?;
            for w in b
                .data_quality
                .warnings
                .iter()
                .chain(&a.data_quality.warnings)
            {
                eprintln!("finscope: warning: {w}");
            }
            let cmp = crate::analysis::compare(&b, &a, &renames, threshold / 100.0);
            let charts = || crate::chart::compare_charts(&b, &a, &cmp);
            if let Some(dir) = &out_args.out {
                out::prepare(dir, out_args.force)?;
                let rendered = out::render_charts(charts(), Some(dir))?;
                let refs = out::refs(&rendered);
                out::write_file(dir, "compare.json", |w| report::write_compare_json(w, &cmp))?;
                out::write_file(dir, "compare.md", |w| {
                    report::write_compare_markdown(w, &cmp, &refs)
                })?;
                out::write_file(dir, "compare.html", |w| {
                    report::write_compare_html(w, &cmp, &refs)
                })?;
                eprintln!(
                    "finscope: wrote {} (compare.html, compare.md, compare.json, {} charts)",
                    dir.display(),
                    rendered.len()
                );
            }
            let inline = match format {
                SummaryFormat::Html => out::render_charts(charts(), None)?,
                _ => Vec::new(),
            };
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            match format {
                SummaryFormat::Text => report::write_compare_text(&mut out, &cmp),
                SummaryFormat::Json => report::write_compare_json(&mut out, &cmp),
                SummaryFormat::Markdown => report::write_compare_markdown(&mut out, &cmp, &[]),
                SummaryFormat::Html => {
                    report::write_compare_html(&mut out, &cmp, &out::refs(&inline))
                }
            }
            .and_then(|_| out.flush())
            .context("writing the comparison")?;
            if fail_if_worse && !cmp.regressions().is_empty() {
                for (name, f) in cmp.regressions() {
                    eprintln!(
                        "finscope: worse: {name} {} {:?} -> {:?}",
                        f.name, f.before, f.after
                    );
                }
                return Ok(ExitCode::from(1));
            }
        }
        Command::Conns {
            captures,
            format,
            common,
        } => {
            let cfg = config(&common, &captures)?;
            let bar = progress_bar(&captures, common.no_progress);
            let format = match format {
                RecordFormat::Ndjson => report::RecordFormat::Ndjson,
                RecordFormat::Csv => report::RecordFormat::Csv,
            };
            // Records come by the hundred thousand: the writer buffers them itself and hands
            // stdout few large writes.
            let mut out = report::RecordWriter::new(io::stdout().lock(), format)?;
            let stats = pipeline::run(
                &captures,
                &cfg,
                &mut |r, http| out.record(r, http),
                &mut |n| bar.set_position(n),
            );
            bar.finish_and_clear();
            let stats = stats?;
            out.finish().context("writing records")?;
            for w in &stats.warnings {
                eprintln!("finscope: warning: {w}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A byte-progress bar on stderr when it is a terminal; hidden otherwise. Its length is the
/// size of the input files (compressed inputs move past it, so the position is capped).
fn progress_bar(paths: &[String], disabled: bool) -> ProgressBar {
    if disabled || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total: Option<u64> = paths
        .iter()
        .map(|p| {
            if p == "-" {
                None
            } else {
                std::fs::metadata(p).ok().map(|m| m.len())
            }
        })
        .sum();
    let bar = match total {
        Some(t) => ProgressBar::new(t).with_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    bar
}
