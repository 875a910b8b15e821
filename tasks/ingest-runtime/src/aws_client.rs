//! The AWS SDK clients the runtime and preflight share: one HTTPS client (rustls with ring, so
//! no aws-lc or OpenSSL is built or linked) under every SDK client, and the S3 client built from
//! the standard AWS chain (env, profile, IRSA web identity, IMDS) plus the S3 options. The S3
//! source, the S3 lake, Secrets Manager and preflight all use these; their errors go through the
//! one classifier of [`crate::aws_error`].

use std::time::Duration;

/// Connection settings for S3 and S3-compatible servers.
#[derive(Clone, Debug)]
pub struct S3Options {
    /// Endpoint override (`http://127.0.0.1:9000`), for S3-compatible servers.
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible servers need.
    pub force_path_style: bool,
    /// Attempts per request, including the first (the SDK's standard retry mode).
    pub max_attempts: u32,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            endpoint: None,
            force_path_style: false,
            max_attempts: 5,
        }
    }
}

/// The HTTPS client of every AWS SDK client of the runtime (S3, Secrets Manager): rustls with
/// ring, so no aws-lc or OpenSSL is built or linked.
pub fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Builds an S3 client from the standard AWS chain plus the options.
pub async fn s3_client(options: &S3Options) -> aws_sdk_s3::Client {
    let http = https_client();
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(options.max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(10));
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        // A stalled stream errors out (and is resumed) instead of hanging the pod.
        .read_timeout(Duration::from_secs(30))
        .build();
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .retry_config(retry)
        .timeout_config(timeouts)
        .load()
        .await;
    let mut builder = aws_sdk_s3::config::Builder::from(&shared);
    if let Some(endpoint) = &options.endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    if shared.region().is_none() {
        // S3-compatible servers ignore the region, but signing needs one.
        builder = builder.region(aws_sdk_s3::config::Region::new("us-east-1"));
    }
    builder = builder.force_path_style(options.force_path_style);
    aws_sdk_s3::Client::from_conf(builder.build())
}
