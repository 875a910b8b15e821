//! A panic is a bug, and ends the run like any other failure: exit 1, the run summary, the
//! termination message and one alert. The release profile unwinds (`panic = "unwind"`), the run
//! is wrapped in `catch_unwind` and workers are joined, so every panic comes back as
//! [`crate::error::RunError::Internal`].
//!
//! The hook installed here replaces Rust's default one, which would print the panic message to
//! stderr as is: a message can quote data (a slice of `SNOWFLAKE_PRIVATE_KEY`, a URL), so it is
//! checked against every secret value first and withheld when it quotes any part of one.

use std::any::Any;
use std::sync::{Mutex, OnceLock};

/// The first panic of the process, as logged: thread, location, message (secrets withheld).
static FIRST: Mutex<Option<String>> = Mutex::new(None);
/// Secret values a panic message must not quote.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static INSTALLED: OnceLock<()> = OnceLock::new();

/// A message sharing this many bytes in a row with a secret is withheld.
const WINDOW: usize = 12;
/// Shorter secrets are looked for whole (shorter still: too common to tell apart).
const MIN_SECRET: usize = 4;
/// What replaces a message that quoted a secret.
pub const WITHHELD: &str = "(panic message withheld: it quoted part of a secret)";

/// Env variables read by the AWS chain whose values are credentials.
const AWS_SECRET_ENV: &[&str] = &["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

/// Installs the hook (once per process) and protects the secret env variables' raw values.
pub fn install_hook() {
    INSTALLED.get_or_init(|| {
        let names = crate::config::SECRET_ENV
            .iter()
            .map(|(name, _)| *name)
            .chain(AWS_SECRET_ENV.iter().copied());
        protect(names.filter_map(|n| std::env::var(n).ok()));
        std::panic::set_hook(Box::new(|info| {
            let thread = std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .to_owned();
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let message = safe_message(payload_text(info.payload()));
            let text = format!("panic in thread {thread} at {location}: {message}");
            FIRST
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(text.clone());
            if tracing::dispatcher::has_been_set() {
                tracing::error!(thread, location, panic = %message, "panic: this is a bug");
            } else {
                eprintln!("{text}");
            }
        }));
    });
}

/// Adds values (e.g. secrets resolved from AWS Secrets Manager) that panic messages must not
/// quote.
pub fn protect(values: impl IntoIterator<Item = String>) {
    let mut all = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    for v in values {
        let v = v.trim();
        if v.len() >= MIN_SECRET && !all.iter().any(|s| s == v) {
            all.push(v.to_owned());
        }
    }
}

/// What to report for a caught panic: the first panic the hook recorded (the cause; later ones
/// are usually consequences), else the payload's message, secrets withheld.
pub fn describe(payload: &(dyn Any + Send)) -> String {
    if let Some(first) = FIRST.lock().unwrap_or_else(|e| e.into_inner()).clone() {
        return first;
    }
    format!("panic: {}", safe_message(payload_text(payload)))
}

fn payload_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)")
}

fn safe_message(message: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    if quotes_a_secret(message, &secrets) {
        WITHHELD.to_owned()
    } else {
        message.to_owned()
    }
}

/// True when `message` holds a secret, or [`WINDOW`] bytes in a row of one (a panic on a slice
/// quotes a piece of the string, not all of it).
fn quotes_a_secret(message: &str, secrets: &[String]) -> bool {
    let hay = message.as_bytes();
    secrets.iter().any(|s| {
        let s = s.as_bytes();
        if s.len() <= WINDOW {
            memchr::memmem::find(hay, s).is_some()
        } else {
            s.windows(WINDOW)
                .any(|w| memchr::memmem::find(hay, w).is_some())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_quoting_part_of_a_secret_is_withheld() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----".to_owned();
        let secrets = vec![pem, "hunter22".to_owned()];
        // A slice panic quotes a piece of the string it sliced.
        assert!(quotes_a_secret(
            "byte index 40 is out of bounds of `DANBgkqhkiG9w0BAQEF`",
            &secrets
        ));
        assert!(quotes_a_secret("password hunter22 rejected", &secrets));
        assert!(!quotes_a_secret(
            "fault injected at panic-in-parse (INGEST_FAULT)",
            &secrets
        ));
        // Eleven bytes of the key are not enough to tell it apart from ordinary text.
        assert!(!quotes_a_secret("DANBgkqhkiG", &secrets));
    }

    #[test]
    fn payload_text_reads_both_string_kinds() {
        let owned: Box<dyn Any + Send> = Box::new(String::from("owned"));
        let borrowed: Box<dyn Any + Send> = Box::new("static");
        let other: Box<dyn Any + Send> = Box::new(7_u8);
        assert_eq!(payload_text(&*owned), "owned");
        assert_eq!(payload_text(&*borrowed), "static");
        assert_eq!(payload_text(&*other), "(no message)");
    }
}
