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

/// Verbosity order of `EnvFilter` levels; anything else (a malformed level) counts as `trace` so
/// that a cap still applies.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

fn verbosity(level: &str) -> usize {
    LEVELS
        .iter()
        .position(|l| l.eq_ignore_ascii_case(level.trim()))
        .unwrap_or(LEVELS.len() - 1)
}

/// `RUST_LOG` (default `info`) with the capped crates bounded: each gets the level `RUST_LOG`
/// asks for it (its own directive, else the bare default level), but never more than its cap.
/// A directive can only set a level, so the caps are written as the lower of the two; directives
/// for a capped crate's modules are dropped so none can lift the cap.
pub fn filter_directives(rust_log: Option<&str>) -> String {
    let directives: Vec<&str> = rust_log
        .filter(|v| !v.trim().is_empty())
        .unwrap_or("info")
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let target_of = |d: &str| {
        d.split(['=', '['])
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let capped_crate = |target: &str| {
        CAPS.iter().find(|(krate, _)| {
            target == *krate
                || target
                    .strip_prefix(krate)
                    .is_some_and(|r| r.starts_with("::"))
        })
    };
    // The bare level (`info`, `debug`, ...), last one wins; without one, unnamed targets are off.
    let default_level = directives
        .iter()
        .rev()
        .find(|d| LEVELS.iter().any(|l| l.eq_ignore_ascii_case(d)))
        .copied()
        .unwrap_or("off");
    let requested = |krate: &str| {
        directives
            .iter()
            .rev()
            .find(|d| target_of(d) == krate && d.contains('='))
            .and_then(|d| d.split_once('=').map(|(_, l)| l))
            .unwrap_or(default_level)
    };
    // aws-config logs a failed credentials provider as a warning with `DisplayErrorContext`, which
    // appends a Debug dump of the SDK's structs; the run's own error names the provider and the
    // fix instead. Naming `aws_config` in RUST_LOG brings those warnings back (up to its cap).
    let named_aws_config = directives.iter().any(|d| target_of(d) == "aws_config");
    let mut out: Vec<String> = directives
        .iter()
        .filter(|d| capped_crate(&target_of(d)).is_none())
        .map(|d| (*d).to_owned())
        .collect();
    out.extend(CAPS.iter().map(|(krate, cap)| {
        let cap = if *krate == "aws_config" && !named_aws_config {
            "error"
        } else {
            cap
        };
        let wanted = requested(krate);
        let level = if verbosity(wanted) < verbosity(cap) {
            wanted
        } else {
            cap
        };
        format!("{krate}={}", level.to_ascii_lowercase())
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
        let level_of = |directives: &str, krate: &str| {
            directives
                .split(',')
                .find_map(|d| d.strip_prefix(&format!("{krate}=")).map(str::to_owned))
                .unwrap_or_else(|| panic!("no directive for {krate} in {directives}"))
        };
        // Default: the SDK is as quiet as everything else, never louder (info, not debug).
        let info = filter_directives(None);
        assert!(info.starts_with("info,"), "{info}");
        assert_eq!(level_of(&info, "aws_smithy_runtime"), "info");
        assert_eq!(level_of(&info, "aws_sigv4"), "off");
        assert_eq!(level_of(&info, "aws_config"), "error");
        // trace everywhere: each capped crate stops at its cap.
        let trace = filter_directives(Some("trace"));
        for (krate, cap) in CAPS {
            let want = if krate == "aws_config" { "error" } else { cap };
            assert_eq!(level_of(&trace, krate), want, "{trace}");
        }
        // A directive naming a capped crate or its module cannot lift the cap.
        let lifted = filter_directives(Some(
            "debug,aws_sigv4=trace,aws_sigv4::http_request=trace,hyper=trace,ingest_runtime=trace,aws_sigv4x=trace",
        ));
        assert!(!lifted.contains("aws_sigv4::http_request"), "{lifted}");
        assert!(
            lifted.starts_with("debug,ingest_runtime=trace,aws_sigv4x=trace,"),
            "{lifted}"
        );
        assert_eq!(level_of(&lifted, "aws_sigv4"), "off");
        assert_eq!(level_of(&lifted, "hyper"), "info");
        assert_eq!(level_of(&lifted, "aws_smithy_runtime"), "debug");
        // A crate's own lower directive is kept.
        let quiet = filter_directives(Some("trace,aws_smithy_runtime=warn"));
        assert_eq!(level_of(&quiet, "aws_smithy_runtime"), "warn");
        // Without a bare level, unnamed targets stay off, capped crates too.
        let only = filter_directives(Some("ingest_runtime=debug"));
        assert_eq!(level_of(&only, "aws_smithy_runtime"), "off");
        // aws-config's provider warnings (Debug dumps) only when asked for, never past debug.
        let asked = filter_directives(Some("info,aws_config=trace"));
        assert_eq!(level_of(&asked, "aws_config"), "debug");
        for directives in [info, trace, lifted, quiet, only, asked] {
            assert!(EnvFilter::try_new(&directives).is_ok(), "{directives}");
        }
    }
}
