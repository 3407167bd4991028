//! Logging for the long-running roles (`crust node`, `crust sworker run`, `crust ipfs
//! daemon`): they log through `tracing` under `crust::<role>` targets. `--log-format text` (the
//! default) prints `role: message` lines on stderr, with the level for warnings and errors;
//! `--log-format json` prints one JSON object per line (timestamp, level, target, message and
//! fields) for log shippers. `RUST_LOG` replaces the default filter (`warn,crust=info`), e.g.
//! `RUST_LOG=debug` or `RUST_LOG=crust=info,libp2p_swarm=debug`. What a command prints for the
//! person who ran it (results, progress) is not logging and stays plain.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `role: message`, as a person reads it.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The filter when `RUST_LOG` is not set: our roles at info, libraries at warn.
const DEFAULT_FILTER: &str = "warn,crust=info";

/// Installs the subscriber for the process (once; later calls do nothing).
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.event_format(Plain).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// `role: [LEVEL ]message key=value…` — the role is the target without its `crust::` prefix.
struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let target = meta.target();
        write!(
            writer,
            "{}: ",
            target.strip_prefix("crust::").unwrap_or(target)
        )?;
        if *meta.level() <= Level::WARN {
            write!(writer, "{} ", meta.level())?;
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "[{fields}] ")?;
                }
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
