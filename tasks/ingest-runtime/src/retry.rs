//! The one retry policy of the HTTP calls outside the AWS SDK (the Mattermost webhook, Snowflake's
//! REST API; the SDK retries S3 and Secrets Manager itself): exponential backoff with jitter
//! (the `backon` crate), a maximum number of attempts, a server's `Retry-After` honoured up to a
//! cap, and an optional time budget that no pause may cross.
//!
//! A caller runs one attempt as a closure returning `Result<T, E>` and hands `backon` the pieces
//! built here: [`RetryPolicy::backoff`] for the pauses and [`RetryPolicy::pause`] as its
//! `adjust` step (Retry-After, the budget). Whether an error is worth another attempt stays with
//! the caller (`when`), since only it knows its protocol.

use std::time::{Duration, Instant};

use backon::ExponentialBuilder;

/// How often and how patiently a call is retried.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// The pause before the first retry; each next one doubles, plus a random jitter of up to
    /// the pause itself, so clients that failed together do not retry together.
    pub first_pause: Duration,
    /// The longest computed pause (before jitter).
    pub max_pause: Duration,
    /// The longest pause a server's `Retry-After` can ask for.
    pub max_retry_after: Duration,
    /// Time from the first attempt after which no pause starts (the alert's share of the stop
    /// budget, for example); `None` = only the attempts bound the retries.
    pub budget: Option<Duration>,
}

impl RetryPolicy {
    /// The backoff `backon` iterates: `attempts - 1` pauses.
    pub fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.first_pause)
            .with_max_delay(self.max_pause.max(self.first_pause))
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.attempts.max(1) as usize - 1)
    }

    /// The pause before the next attempt, given the backoff's (`None` once the attempts are used
    /// up) and the server's `Retry-After`: the server's wish (capped) wins over the backoff; no
    /// pause that would end past the budget (counted from `started`).
    pub fn pause(
        &self,
        started: Instant,
        backoff: Option<Duration>,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let pause = match retry_after {
            Some(wish) => backoff.map(|_| wish.min(self.max_retry_after)),
            None => backoff,
        }?;
        match self.budget {
            Some(budget) if started.elapsed() + pause >= budget => None,
            _ => Some(pause),
        }
    }
}

/// A `Retry-After` answer in seconds (the HTTP-date form is not used by these servers).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            first_pause: Duration::from_millis(100),
            max_pause: Duration::from_millis(300),
            max_retry_after: Duration::from_secs(5),
            budget: None,
        }
    }

    #[test]
    fn pauses_double_with_jitter_up_to_the_cap_then_stop() {
        let pauses: Vec<Duration> = policy().backoff().build().collect();
        assert_eq!(pauses.len(), 3, "attempts - 1 pauses: {pauses:?}");
        for (pause, base) in pauses.iter().zip([100, 200, 300]) {
            let base = Duration::from_millis(base);
            assert!(
                *pause >= base && *pause <= base * 2,
                "{pause:?} for {base:?}"
            );
        }
        let one = RetryPolicy {
            attempts: 1,
            ..policy()
        };
        assert_eq!(one.backoff().build().count(), 0);
    }

    #[test]
    fn retry_after_wins_up_to_its_cap_but_not_past_the_last_attempt() {
        let p = policy();
        let now = Instant::now();
        let backoff = Some(Duration::from_millis(150));
        assert_eq!(p.pause(now, backoff, None), backoff);
        assert_eq!(
            p.pause(now, backoff, Some(Duration::ZERO)),
            Some(Duration::ZERO)
        );
        assert_eq!(
            p.pause(now, backoff, Some(Duration::from_secs(60))),
            Some(Duration::from_secs(5))
        );
        assert_eq!(p.pause(now, None, Some(Duration::from_secs(1))), None);
    }

    #[test]
    fn no_pause_crosses_the_budget() {
        let p = RetryPolicy {
            budget: Some(Duration::from_secs(1)),
            ..policy()
        };
        let now = Instant::now();
        assert_eq!(
            p.pause(now, Some(Duration::from_millis(100)), None),
            Some(Duration::from_millis(100))
        );
        assert_eq!(p.pause(now, Some(Duration::from_secs(2)), None), None);
        assert_eq!(
            p.pause(
                now,
                Some(Duration::from_millis(1)),
                Some(Duration::from_secs(3))
            ),
            None
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, " 7 ".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
