//! Structured logs on stderr: JSON lines in pods, a compact human format on a terminal.
//! The filter comes from `RUST_LOG` (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Resolves `auto` by looking at stderr.
pub fn resolve(format: LogFormat) -> LogFormat {
    match format {
        LogFormat::Auto if std::io::stderr().is_terminal() => LogFormat::Text,
        LogFormat::Auto => LogFormat::Json,
        other => other,
    }
}

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(format: LogFormat) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // aws-config logs a failed credentials provider as a warning with `DisplayErrorContext`,
    // which appends a Debug dump of the SDK's structs; the run's own error names the provider
    // and the fix instead. `RUST_LOG=...,aws_config=warn` (or any level) brings them back.
    if !std::env::var("RUST_LOG").is_ok_and(|v| v.contains("aws_config")) {
        filter = filter.add_directive("aws_config=error".parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match resolve(format) {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        _ => builder.with_target(false).compact().try_init(),
    };
}
