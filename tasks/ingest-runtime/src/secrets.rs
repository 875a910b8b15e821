//! A string that never prints: the webhook URL and any credential live in a [`Secret`].
//!
//! `Debug` and `Display` both print `[redacted]`, so a secret can sit in a config struct that
//! derives `Debug`, in a log field or in an error message without leaking. The value is reachable
//! only through [`Secret::expose`], which makes every use greppable. There is deliberately no
//! `Serialize` implementation (a run summary or contract dump cannot carry one by accident) and
//! no `PartialEq` (compare through `expose()` where it is really meant).

use std::fmt;

pub mod manager;

/// What a secret prints as, everywhere.
pub const REDACTED: &str = "[redacted]";

/// A secret value: prints as `[redacted]`; read it with [`Secret::expose`].
///
/// The value is stored exactly as given (no trimming): callers that read it from the
/// environment trim it first (see `config::Secrets::resolve_from_env`).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret value. Only for the place that uses it (e.g. the HTTP request), never for
    /// output.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` honours width and alignment (`{:>20?}`) without ever looking at the value.
        f.pad(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENTINEL: &str = "https://chat.example.com/hooks/SENTINEL-s3cr3t-9f8e7d";

    fn secret() -> Secret {
        Secret::from(SENTINEL.to_owned())
    }

    fn assert_redacted(printed: &str) {
        assert!(!printed.contains("SENTINEL"), "leaked: {printed}");
        assert!(!printed.contains("s3cr3t"), "leaked: {printed}");
        assert!(
            printed.contains(REDACTED),
            "expected the marker in {printed}"
        );
    }

    #[test]
    fn debug_never_prints_the_value() {
        let s = secret();
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_redacted(&format!("{s:#?}"));
        assert_redacted(&format!("{:?}", Some(s.clone())));
        assert_redacted(&format!("{:?}", vec![s.clone(), s]));
    }

    #[test]
    fn display_never_prints_the_value() {
        let s = secret();
        assert_eq!(s.to_string(), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:>12}"), "  [redacted]");
        assert_eq!(format!("{s:<12}|"), "[redacted]  |");
    }

    #[test]
    fn containing_structs_stay_redacted() {
        #[derive(Debug)]
        #[allow(dead_code)] // only read through Debug
        struct Config {
            name: &'static str,
            webhook_url: Option<Secret>,
        }
        let cfg = Config {
            name: "push-logs",
            webhook_url: Some(secret()),
        };
        let printed = format!("{cfg:?} {cfg:#?}");
        assert_redacted(&printed);
        assert!(printed.contains("push-logs"));
    }

    #[test]
    fn expose_returns_the_value_unchanged() {
        let s = Secret::from("  padded value ".to_owned());
        assert_eq!(s.expose(), "  padded value ");
        assert_eq!(secret().clone().expose(), SENTINEL);
        assert_eq!(Secret::new("x").expose(), "x");
        assert_eq!(Secret::from("y").expose(), "y");
        assert!(Secret::new("").is_empty());
        assert!(!secret().is_empty());
    }
}
