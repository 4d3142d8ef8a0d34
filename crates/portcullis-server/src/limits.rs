//! Failed-authentication limits (docs/security.md case 97): counters in the database, so every
//! instance enforces the same limits.
//!
//! Two fixed windows of [`WINDOW`] seconds count failed client authentications: one per client
//! address, and one per (client id, address). Both are keyed by the caller's address, so an
//! attacker elsewhere cannot lock a real client out. Secrets are still checked in constant time
//! and unknown client ids cost the same as known ones, so the limits tell nothing either.
//!
//! Reading the counters on every token request cost ~10 % of the token endpoint's throughput,
//! so an instance remembers, for [`CLEAN_FOR`], that a caller had no failures in the current
//! window (`CleanCallers`), and skips the read meanwhile. A failure through this instance
//! forgets it at once; failures through other instances are seen within [`CLEAN_FOR`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use portcullis::clock::Clock;

use crate::error::{OAuthError, StoreError};
use crate::store::Store;

/// Window length in seconds.
pub const WINDOW: i64 = 300;
/// Failed authentications allowed per address per window.
pub const PER_ADDRESS: i64 = 100;
/// Failed authentications allowed per (client id, address) per window.
pub const PER_CLIENT: i64 = 20;

/// A caller: its address and a short digest of the client id it authenticates as (the client
/// id is attacker-chosen: the counters and [`CleanCallers`] keep a digest, not the string).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Caller {
    ip: Option<IpAddr>,
    client: [u8; 12],
}

impl Caller {
    fn new(ip: Option<IpAddr>, client_id: &str) -> Caller {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, client_id.as_bytes());
        let mut client = [0u8; 12];
        client.copy_from_slice(&digest.as_ref()[..12]);
        Caller { ip, client }
    }

    /// The database counters: (per address, per client id and address).
    fn buckets(&self) -> (String, String) {
        let ip = self
            .ip
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let client = crate::ids::hex(&self.client);
        (format!("ip:{ip}"), format!("client:{client}|ip:{ip}"))
    }
}

fn buckets(ip: Option<IpAddr>, client_id: &str) -> (String, String) {
    Caller::new(ip, client_id).buckets()
}

/// How long a caller found without failures is trusted to stay so without reading the
/// database again.
pub const CLEAN_FOR: Duration = Duration::from_secs(1);

/// How long a caller last found without failures may go on while the counters cannot be read
/// (the database is unavailable).
const CLEAN_IF_UNAVAILABLE: Duration = Duration::from_secs(3600);

/// Callers (by client and address) that had no failed authentication in the current window
/// when last read: see the module documentation. Bounded; per server instance.
pub(crate) struct CleanCallers {
    /// The window a caller was clean in, and when it was found so (clock milliseconds).
    seen: quick_cache::sync::Cache<Caller, (i64, i64)>,
    clock: Arc<dyn Clock>,
}

impl CleanCallers {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        CleanCallers {
            seen: quick_cache::sync::Cache::new(10_000),
            clock,
        }
    }

    /// Whether `at` (clock milliseconds) is less than `d` ago; never for a time ahead of the
    /// clock (it went backwards).
    fn within(&self, at: i64, d: Duration) -> bool {
        let elapsed = self.clock.now_millis().saturating_sub(at);
        (0..i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).contains(&elapsed)
    }
}

fn window(now: i64) -> i64 {
    now - now.rem_euclid(WINDOW)
}

/// Refuses with 429 when the caller is over a limit.
pub(crate) async fn check(
    store: &Store,
    clean: &CleanCallers,
    ip: Option<IpAddr>,
    client_id: &str,
    now: i64,
) -> Result<(), OAuthError> {
    let caller = Caller::new(ip, client_id);
    let start = window(now);
    let known = clean.seen.get(&caller);
    if known.is_some_and(|(w, at)| w == start && clean.within(at, CLEAN_FOR)) {
        return Ok(());
    }
    let (by_ip, by_client) = caller.buckets();
    let (ip_hits, client_hits) = match store.rate_limit_counts(&by_ip, &by_client, start).await {
        Ok(counts) => counts,
        // The counters cannot be read while the database is unavailable (nor can failures be
        // counted): a caller this instance last saw without failures — and has not seen fail
        // since — goes on, so machine-to-machine tokens keep being issued during an outage.
        Err(e)
            if e.is_unavailable()
                && known.is_some_and(|(_, at)| clean.within(at, CLEAN_IF_UNAVAILABLE)) =>
        {
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    if ip_hits == 0 && client_hits == 0 {
        clean.seen.insert(caller, (start, clean.clock.now_millis()));
        return Ok(());
    }
    if ip_hits >= PER_ADDRESS || client_hits >= PER_CLIENT {
        tracing::warn!(ip = ?ip, "client authentication rate limit reached");
        return Err(OAuthError::too_many_attempts(start + WINDOW - now));
    }
    Ok(())
}

/// Counts a failed authentication.
pub(crate) async fn record_failure(
    store: &Store,
    clean: &CleanCallers,
    ip: Option<IpAddr>,
    client_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    let caller = Caller::new(ip, client_id);
    clean.seen.remove(&caller);
    let (by_ip, by_client) = caller.buckets();
    let start = window(now);
    let hits = store.rate_limit_hit(&by_ip, start).await?;
    store.rate_limit_hit(&by_client, start).await?;
    if hits == 1 {
        // First failure from this address in this window: a cheap moment to forget old windows.
        store.purge_rate_limits(start - WINDOW).await?;
        store.purge_revoked_tokens(now).await?;
    }
    Ok(())
}

/// Failed sign-ins allowed per (account, address) per window.
pub const SIGN_IN_PER_ACCOUNT: i64 = 10;

fn sign_in_buckets(ip: Option<IpAddr>, email: &str) -> (String, String) {
    let (by_ip, by_account) = buckets(ip, &crate::domain::normalize_email(email));
    (format!("signin-{by_ip}"), format!("signin-{by_account}"))
}

/// Refuses a sign-in attempt with a 429 page when the caller is over a limit (docs/security.md
/// case 96). Keyed by the caller's address, so nobody elsewhere can lock the real user out.
pub(crate) async fn check_sign_in(
    store: &Store,
    ip: Option<IpAddr>,
    email: &str,
    now: i64,
) -> Result<(), axum::response::Response> {
    match sign_in_retry_after(store, ip, email, now).await {
        Ok(None) => Ok(()),
        Ok(Some(retry_after)) => {
            let mut page = crate::pages::error(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-in attempts. Wait a few minutes and try again.",
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after.to_string()) {
                page.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
            Err(page)
        }
        Err(e) => {
            tracing::warn!(error = %e, "rate-limit check failed");
            Err(crate::pages::failure(
                e.is_unavailable(),
                "The server could not complete the sign-in.",
            ))
        }
    }
}

/// `Some(seconds until the window ends)` when the caller is over a sign-in limit (the hosted
/// form and the password grant share these counters).
pub(crate) async fn sign_in_retry_after(
    store: &Store,
    ip: Option<IpAddr>,
    email: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let (by_ip, by_account) = sign_in_buckets(ip, email);
    let start = window(now);
    let over = store.rate_limit_count(&by_ip, start).await? >= PER_ADDRESS
        || store.rate_limit_count(&by_account, start).await? >= SIGN_IN_PER_ACCOUNT;
    if over {
        tracing::warn!(ip = ?ip, "sign-in rate limit reached");
    }
    Ok(over.then_some(start + WINDOW - now))
}

/// Counts a failed sign-in.
pub(crate) async fn record_sign_in_failure(
    store: &Store,
    ip: Option<IpAddr>,
    email: &str,
    now: i64,
) -> Result<(), StoreError> {
    let (by_ip, by_account) = sign_in_buckets(ip, email);
    let start = window(now);
    store.rate_limit_hit(&by_ip, start).await?;
    store.rate_limit_hit(&by_account, start).await?;
    Ok(())
}

/// Sign-ups (every valid submission of the sign-up form, whether or not the email was new)
/// allowed per address per window.
pub const SIGN_UPS_PER_ADDRESS: i64 = 20;

fn sign_up_bucket(ip: Option<IpAddr>) -> String {
    let ip = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    format!("signup-ip:{ip}")
}

/// Refuses a sign-up with a 429 page when the caller's address is over its limit. The same
/// answer for new and existing emails: the counter counts both alike.
pub(crate) async fn check_sign_up(
    store: &Store,
    ip: Option<IpAddr>,
    now: i64,
) -> Result<(), axum::response::Response> {
    let start = window(now);
    match store.rate_limit_count(&sign_up_bucket(ip), start).await {
        Ok(hits) if hits < SIGN_UPS_PER_ADDRESS => Ok(()),
        Ok(_) => {
            tracing::warn!(ip = ?ip, "sign-up rate limit reached");
            let mut page = crate::pages::error(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-ups from this address. Wait a few minutes and try again.",
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&(start + WINDOW - now).to_string()) {
                page.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
            Err(page)
        }
        Err(e) => {
            tracing::warn!(error = %e, "rate-limit check failed");
            Err(crate::pages::failure(
                e.is_unavailable(),
                "The server could not complete the sign-up.",
            ))
        }
    }
}

/// Counts a sign-up attempt.
pub(crate) async fn record_sign_up(
    store: &Store,
    ip: Option<IpAddr>,
    now: i64,
) -> Result<(), StoreError> {
    store
        .rate_limit_hit(&sign_up_bucket(ip), window(now))
        .await?;
    Ok(())
}
