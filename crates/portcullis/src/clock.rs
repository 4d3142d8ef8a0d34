//! Time as a parameter: every expiry rule reads the time from a [`Clock`], so tests move time
//! instead of sleeping.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time, in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + Debug + 'static {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn now_millis(&self) -> i64;

    /// Whole seconds since the Unix epoch.
    fn now_secs(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }
}

/// The system clock. The default everywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }
}

/// A clock that only moves when told to: for tests.
///
/// Clones share the same time.
///
/// ```
/// use portcullis::clock::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::at_secs(1_700_000_000);
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now_secs(), 1_700_000_090);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock stopped at `secs` seconds after the Unix epoch.
    pub fn at_secs(secs: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(secs.saturating_mul(1000))))
    }

    /// A clock stopped at the current system time.
    pub fn now() -> Self {
        ManualClock(Arc::new(AtomicI64::new(SystemClock.now_millis())))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `secs` seconds after the Unix epoch.
    pub fn set_secs(&self, secs: i64) {
        self.0.store(secs.saturating_mul(1000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
