//! When and how long the management client waits before trying a request again.
//!
//! - **429 Too Many Requests** is always retried, whatever the method: the server refused the
//!   request before doing anything.
//! - **502, 503, 504** and timeouts are retried only for idempotent methods (`GET`, `PUT`,
//!   `DELETE`): the request may have been processed before the gateway gave up, and repeating a
//!   `POST` (create a user) or a `PATCH` (add users to an organization) could do it twice. A
//!   retried `DELETE` whose first try did go through answers 404; the caller sees that.
//! - A connection that could not be opened is retried for every method (nothing was sent).
//!
//! The wait is the server's `RateLimit-Reset` (seconds, IETF RateLimit header fields) or
//! `Retry-After` (seconds or an HTTP date) when it sends one, plus up to 10 % jitter; otherwise
//! exponential backoff (`base × 2^attempt`, at most `max_backoff`) with "equal jitter": half the
//! delay fixed, half random. When the server asks for a wait longer than `max_wait`, the client
//! does not sleep: it returns the error at once, with [`super::ManagementError::retry_after`]
//! saying how long.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// How the management client retries (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first try (0: never retry).
    pub max_retries: u32,
    /// The first backoff delay.
    pub base_delay: Duration,
    /// The largest backoff delay (before jitter).
    pub max_backoff: Duration,
    /// The longest wait the server may ask for; beyond it the error is returned.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_wait: Duration::from_secs(30),
        }
    }
}

/// What a failed try is, for the retry decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// HTTP 429.
    RateLimited,
    /// HTTP 502, 503 or 504.
    Unavailable,
    /// The connection could not be opened: nothing was sent.
    NotConnected,
    /// The request timed out or the connection broke after it was sent.
    Interrupted,
}

impl Failure {
    pub(crate) fn from_status(status: u16) -> Option<Failure> {
        match status {
            429 => Some(Failure::RateLimited),
            502..=504 => Some(Failure::Unavailable),
            _ => None,
        }
    }
}

/// Whether a method may be repeated without changing the outcome (RFC 9110 §9.2.2).
pub(crate) fn is_idempotent(method: &reqwest::Method) -> bool {
    matches!(
        *method,
        reqwest::Method::GET
            | reqwest::Method::HEAD
            | reqwest::Method::PUT
            | reqwest::Method::DELETE
            | reqwest::Method::OPTIONS
    )
}

/// Whether a failure of a request with this method may be retried at all.
pub(crate) fn may_retry(failure: Failure, idempotent: bool) -> bool {
    match failure {
        Failure::RateLimited | Failure::NotConnected => true,
        Failure::Unavailable | Failure::Interrupted => idempotent,
    }
}

/// What to do after failed try number `attempt` (0 for the first try).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Sleep this long, then try again.
    RetryAfter(Duration),
    /// Return the error.
    GiveUp,
}

impl RetryPolicy {
    /// The decision after a failed try. `hint` is the server's requested wait; `jitter` a
    /// random number in `[0, 1)`.
    pub(crate) fn decide(
        &self,
        attempt: u32,
        failure: Failure,
        idempotent: bool,
        hint: Option<Duration>,
        jitter: f64,
    ) -> Decision {
        if attempt >= self.max_retries || !may_retry(failure, idempotent) {
            return Decision::GiveUp;
        }
        match hint {
            Some(wait) if wait > self.max_wait => Decision::GiveUp,
            // Up to 10 % (at most 1 s) more than asked, so clients told the same reset do not
            // all come back at the same instant.
            Some(wait) => {
                let spread = (wait / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
                Decision::RetryAfter(wait + spread.mul_f64(jitter))
            }
            None => Decision::RetryAfter(self.backoff(attempt, jitter)),
        }
    }

    /// Exponential backoff with equal jitter: in `[d/2, d)` where `d = min(base × 2^attempt,
    /// max_backoff)`.
    pub(crate) fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(31));
        let delay = self.base_delay.saturating_mul(factor).min(self.max_backoff);
        let half = delay / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// The wait the server asks for: `RateLimit-Reset` (delta seconds), else `Retry-After` (delta
/// seconds or an IMF-fixdate HTTP date, RFC 9110 §10.2.3). Unparseable values are ignored.
pub(crate) fn server_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(secs) = header("ratelimit-reset").and_then(delta_seconds) {
        return Some(secs);
    }
    let value = header("retry-after")?;
    if let Some(secs) = delta_seconds(value) {
        return Some(secs);
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn delta_seconds(value: &str) -> Option<Duration> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A huge number is just "very long": it will exceed `max_wait`.
    Some(Duration::from_secs(
        value.parse::<u64>().unwrap_or(u64::MAX),
    ))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the format senders must use.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let rest = value.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u32
        + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + m * 60 + s;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A random number in `[0, 1)` for jitter (0.5 if the system's generator fails).
pub(crate) fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return 0.5;
    }
    // 53 random bits, the precision of an f64's mantissa.
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped_with_equal_jitter() {
        let p = policy();
        let ms = |a, j| p.backoff(a, j).as_millis();
        assert_eq!(
            [ms(0, 0.0), ms(1, 0.0), ms(2, 0.0), ms(3, 0.0)],
            [50, 100, 200, 400]
        );
        // At most just under the full delay.
        assert_eq!([ms(0, 0.999), ms(2, 0.999)], [99, 399]);
        // Capped at max_backoff, however many attempts.
        assert_eq!(
            [ms(4, 0.0), ms(30, 0.0), ms(u32::MAX, 0.0)],
            [500, 500, 500]
        );
        assert!(p.backoff(40, 1.0) <= Duration::from_secs(1));
    }

    #[test]
    fn rate_limits_are_retried_for_every_method() {
        let p = policy();
        for idempotent in [true, false] {
            assert!(matches!(
                p.decide(0, Failure::RateLimited, idempotent, None, 0.0),
                Decision::RetryAfter(_)
            ));
            assert!(matches!(
                p.decide(0, Failure::NotConnected, idempotent, None, 0.0),
                Decision::RetryAfter(_)
            ));
        }
    }

    #[test]
    fn gateway_errors_and_timeouts_retry_only_idempotent_methods() {
        let p = policy();
        for failure in [Failure::Unavailable, Failure::Interrupted] {
            assert!(matches!(
                p.decide(0, failure, true, None, 0.0),
                Decision::RetryAfter(_)
            ));
            assert_eq!(p.decide(0, failure, false, None, 0.0), Decision::GiveUp);
        }
        assert!(is_idempotent(&reqwest::Method::GET));
        assert!(is_idempotent(&reqwest::Method::PUT));
        assert!(is_idempotent(&reqwest::Method::DELETE));
        assert!(!is_idempotent(&reqwest::Method::POST));
        assert!(!is_idempotent(&reqwest::Method::PATCH));
        assert_eq!(Failure::from_status(429), Some(Failure::RateLimited));
        assert_eq!(Failure::from_status(503), Some(Failure::Unavailable));
        assert_eq!(Failure::from_status(500), None);
        assert_eq!(Failure::from_status(404), None);
    }

    #[test]
    fn retry_count_is_bounded() {
        let p = policy();
        assert!(matches!(
            p.decide(3, Failure::RateLimited, true, None, 0.0),
            Decision::RetryAfter(_)
        ));
        assert_eq!(
            p.decide(4, Failure::RateLimited, true, None, 0.0),
            Decision::GiveUp
        );
        let never = RetryPolicy {
            max_retries: 0,
            ..policy()
        };
        assert_eq!(
            never.decide(0, Failure::RateLimited, true, None, 0.0),
            Decision::GiveUp
        );
    }

    #[test]
    fn server_wait_is_honoured_with_a_little_jitter_and_capped() {
        let p = policy();
        let two = Duration::from_secs(2);
        assert_eq!(
            p.decide(0, Failure::RateLimited, true, Some(two), 0.0),
            Decision::RetryAfter(two)
        );
        assert_eq!(
            p.decide(0, Failure::RateLimited, true, Some(two), 0.5),
            Decision::RetryAfter(two + Duration::from_millis(100))
        );
        // Zero still spreads clients a little.
        assert_eq!(
            p.decide(0, Failure::RateLimited, true, Some(Duration::ZERO), 1.0),
            Decision::RetryAfter(Duration::from_millis(50))
        );
        // Longer than max_wait: give up at once instead of sleeping.
        assert_eq!(
            p.decide(
                0,
                Failure::RateLimited,
                true,
                Some(Duration::from_secs(11)),
                0.0
            ),
            Decision::GiveUp
        );
    }

    #[test]
    fn server_wait_headers() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_700);
        let wait = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            server_wait(&h, now)
        };
        assert_eq!(wait(&[]), None);
        assert_eq!(
            wait(&[("ratelimit-reset", "7")]),
            Some(Duration::from_secs(7))
        );
        // RateLimit-Reset wins over Retry-After.
        assert_eq!(
            wait(&[("ratelimit-reset", "3"), ("retry-after", "9")]),
            Some(Duration::from_secs(3))
        );
        assert_eq!(wait(&[("retry-after", "9")]), Some(Duration::from_secs(9)));
        // 1994-11-06T08:49:37Z is 784111777: 77 s after `now`.
        assert_eq!(
            wait(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]),
            Some(Duration::from_secs(77))
        );
        // A date in the past: no wait.
        assert_eq!(
            wait(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
            Some(Duration::ZERO)
        );
        for bad in ["-1", "1.5", "soon", "Sun, 06 Nov 1994 08:49:37 PST", ""] {
            assert_eq!(wait(&[("retry-after", bad)]), None, "{bad}");
        }
        assert_eq!(
            wait(&[("ratelimit-reset", "99999999999999999999999")]),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn http_dates() {
        let at = |s| {
            parse_http_date(s).map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs())
        };
        assert_eq!(at("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(at("Tue, 29 Feb 2028 12:00:00 GMT"), Some(1_835_438_400));
        assert_eq!(at("Sun, 06 Foo 1994 08:49:37 GMT"), None);
        assert_eq!(at("Sun, 06 Nov 1994 25:49:37 GMT"), None);
        assert_eq!(at("Sunday, 06-Nov-94 08:49:37 GMT"), None);
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}
