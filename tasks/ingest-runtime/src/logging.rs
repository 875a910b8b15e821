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

/// Upper bounds for the HTTP and AWS SDK crates, whatever `RUST_LOG` says: at trace,
/// `aws_sigv4` logs each canonical request, which holds `x-amz-security-token` (the IRSA session
/// token), and the HTTP stack's trace output can carry headers and bodies. Their debug output is
/// enough to diagnose connections and retries.
const CAPS: [(&str, &str); 10] = [
    ("aws_sigv4", "off"),
    ("aws_smithy_runtime", "debug"),
    ("aws_smithy_runtime_api", "debug"),
    ("aws_smithy_http_client", "debug"),
    ("aws_config", "debug"),
    ("hyper", "info"),
    ("hyper_util", "info"),
    ("h2", "info"),
    ("rustls", "info"),
    ("reqwest", "debug"),
];

/// `RUST_LOG` (default `info`) with every directive for a capped crate (or a module of it)
/// dropped and the caps appended, so no directive can lift them.
pub fn filter_directives(rust_log: Option<&str>) -> String {
    let capped = |directive: &str| {
        let target = directive
            .split(['=', '['])
            .next()
            .unwrap_or_default()
            .trim();
        CAPS.iter().any(|(krate, _)| {
            target == *krate
                || target
                    .strip_prefix(krate)
                    .is_some_and(|r| r.starts_with("::"))
        })
    };
    let mut out: Vec<String> = rust_log
        .filter(|v| !v.trim().is_empty())
        .unwrap_or("info")
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !capped(d))
        .map(str::to_owned)
        .collect();
    // aws-config logs a failed credentials provider as a warning with `DisplayErrorContext`, which
    // appends a Debug dump of the SDK's structs; the run's own error names the provider and the
    // fix instead. Naming `aws_config` in RUST_LOG brings those warnings back (up to its cap).
    let wants_aws_config = rust_log.is_some_and(|v| v.contains("aws_config"));
    out.extend(CAPS.iter().map(|(krate, level)| {
        let level = if *krate == "aws_config" && !wants_aws_config {
            "error"
        } else {
            level
        };
        format!("{krate}={level}")
    }));
    out.join(",")
}

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(format: LogFormat) {
    let directives = filter_directives(std::env::var("RUST_LOG").ok().as_deref());
    let filter =
        EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(filter_directives(None)));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_cannot_be_lifted_by_rust_log() {
        let caps_with = |aws_config: &str| {
            CAPS.iter()
                .map(|(k, l)| {
                    let l = if *k == "aws_config" { aws_config } else { l };
                    format!("{k}={l}")
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let caps = caps_with("error");
        assert_eq!(filter_directives(None), format!("info,{caps}"));
        assert_eq!(filter_directives(Some("trace")), format!("trace,{caps}"));
        assert_eq!(
            filter_directives(Some(
                "debug,aws_sigv4=trace,aws_sigv4::http_request=trace,hyper=trace,ingest_runtime=trace,aws_sigv4x=trace"
            )),
            format!("debug,ingest_runtime=trace,aws_sigv4x=trace,{caps}")
        );
        assert!(EnvFilter::try_new(filter_directives(Some("trace"))).is_ok());
        // aws-config's provider warnings (Debug dumps) only when asked for, and never past debug.
        assert_eq!(
            filter_directives(Some("info,aws_config=trace")),
            format!("info,{}", caps_with("debug"))
        );
    }
}
