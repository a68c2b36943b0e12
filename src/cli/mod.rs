//! The command line: argument parsing (clap), progress (indicatif), exit codes. The only
//! module that prints.
//!
//! Exit codes: 0 done (warnings allowed), 1 a check the user asked for failed, 2 error.
//! A closed stdout pipe ends quietly with 0.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pipeline::{self, Config, PipelineError};
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
    /// Client ephemeral port range, for port-pressure figures.
    #[arg(long, default_value = "32768-60999", value_name = "LOW-HIGH")]
    port_range: String,
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
            eprintln!("finscope: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || matches!(c.downcast_ref::<PipelineError>(), Some(PipelineError::Output(io)) if io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn config(common: &Common) -> anyhow::Result<Config> {
    if !(common.linger.is_finite() && common.linger >= 0.0) {
        anyhow::bail!("--linger must be a number of seconds >= 0");
    }
    Ok(Config {
        linger: Duration((common.linger * 1e9) as i64),
        time_wait: time_wait_config(common)?,
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Analyze {
            captures,
            format,
            common,
        } => {
            let cfg = config(&common)?;
            let bar = progress_bar(&captures, common.no_progress);
            let summary = pipeline::analyze(&captures, &cfg, &mut |n| bar.set_position(n));
            bar.finish_and_clear();
            let summary = summary?;
            for w in &summary.data_quality.warnings {
                eprintln!("finscope: warning: {w}");
            }
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            match format {
                SummaryFormat::Text => report::write_text(&mut out, &summary),
                SummaryFormat::Json => report::write_json(&mut out, &summary),
            }
            .and_then(|_| out.flush())
            .context("writing the summary")?;
        }
        Command::Conns {
            captures,
            format,
            common,
        } => {
            let cfg = config(&common)?;
            let bar = progress_bar(&captures, common.no_progress);
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            if let RecordFormat::Csv = format {
                report::write_csv_header(&mut out)?;
            }
            let mut write =
                |r: &crate::tcp::ConnRecord, http: &crate::http::HttpSummary| match format {
                    RecordFormat::Ndjson => report::write_ndjson_record(&mut out, r, http),
                    RecordFormat::Csv => report::write_csv_record(&mut out, r, http),
                };
            let stats = pipeline::run(&captures, &cfg, &mut write, &mut |n| bar.set_position(n));
            bar.finish_and_clear();
            let stats = stats?;
            out.flush().context("writing records")?;
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
