//! Passwords: argon2id (OWASP parameters: 19 MiB, 2 iterations, 1 lane), hashed off the async
//! threads with bounded concurrency so a burst of logins cannot exhaust CPU or memory
//! (docs/security.md case 98), and length-checked before any hashing (case 87).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::error::ServerError;

/// Shortest password accepted (NIST SP 800-63B §3.1.1.2).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in bytes: refused before hashing.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// At most this many Argon2id runs (hashes or verifications) happen at once in this process;
/// each holds 19 MiB, so hashing never takes more than `19 MiB × MAX_CONCURRENT_HASHES`. Further
/// sign-ins wait their turn without occupying a request thread, so other endpoints stay
/// responsive (docs/security.md case 98).
pub const MAX_CONCURRENT_HASHES: usize = 2;

static PERMITS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(MAX_CONCURRENT_HASHES));

/// Argon2id runs in progress now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Requests waiting for a hashing permit now.
static WAITING: AtomicUsize = AtomicUsize::new(0);
/// The most Argon2id runs ever in progress at once.
static PEAK_RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Argon2id runs started since the process began.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// A snapshot of the password hasher's load (for metrics and tests; see [`load`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HashingLoad {
    /// Argon2id runs in progress now (never more than [`MAX_CONCURRENT_HASHES`]).
    pub running: usize,
    /// Requests waiting for their turn to hash now.
    pub waiting: usize,
    /// The most runs ever in progress at once in this process.
    pub peak_running: usize,
    /// Runs started since the process began.
    pub started: usize,
}

/// The hasher's load now. Counters are per process: every server in it shares one hasher.
pub fn load() -> HashingLoad {
    HashingLoad {
        running: RUNNING.load(Ordering::SeqCst),
        waiting: WAITING.load(Ordering::SeqCst),
        peak_running: PEAK_RUNNING.load(Ordering::SeqCst),
        started: STARTED.load(Ordering::SeqCst),
    }
}

/// Decrements a counter when dropped (also when a waiting request is cancelled).
struct Counted(&'static AtomicUsize);

impl Counted {
    fn enter(counter: &'static AtomicUsize) -> Counted {
        counter.fetch_add(1, Ordering::SeqCst);
        Counted(counter)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn params() -> Params {
    // Constant, valid parameters (OWASP's argon2id recommendation).
    Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters")
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// Why a password is not acceptable.
pub fn check_policy(password: &str) -> Result<(), &'static str> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err("the password is too long (256 bytes at most)");
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err("the password is too short (8 characters at least)");
    }
    Ok(())
}

/// Whether `phc` is an argon2id PHC string this server can verify, with at least the policy's
/// cost (m ≥ 19 MiB, t ≥ 2; docs/security.md case 85) — for imported password hashes.
pub fn is_argon2id_phc(phc: &str) -> bool {
    if phc.len() > 512 {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    parsed.algorithm.as_str() == "argon2id"
        && parsed.hash.is_some()
        && parsed.salt.is_some()
        && params.m_cost() >= 19 * 1024
        && params.t_cost() >= 2
        && params.p_cost() <= 4
}

/// Runs `f` on the blocking pool once a permit is free. The permit moves into the blocking
/// task, so a request abandoned by its client (its future dropped) does not free the permit
/// while its hash is still running: the bound holds for the work, not just for the requests.
async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ServerError> {
    let permit = {
        let _waiting = Counted::enter(&WAITING);
        PERMITS
            .acquire()
            .await
            .map_err(|_| ServerError::Keys("the password hasher is closed".into()))?
    };
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let running = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        let _running = Counted(&RUNNING);
        PEAK_RUNNING.fetch_max(running, Ordering::SeqCst);
        STARTED.fetch_add(1, Ordering::SeqCst);
        f()
    })
    .await
    .map_err(|_| ServerError::Keys("password hashing failed".into()))
}

/// Hashes a password (PHC string format). The policy is checked first.
pub async fn hash(password: &str) -> Result<String, ServerError> {
    check_policy(password).map_err(|p| ServerError::Config(p.into()))?;
    let password = password.to_owned();
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| ServerError::Keys("no randomness".into()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| ServerError::Keys("salt".into()))?;
    run(move || hash_blocking(password.as_bytes(), &salt)).await?
}

fn hashing_failed() -> ServerError {
    ServerError::Keys("password hashing failed".into())
}

/// One Argon2id hash with this process's parameters, in a reused memory buffer.
fn hash_blocking(password: &[u8], salt: &SaltString) -> Result<String, ServerError> {
    let params = params();
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|_| hashing_failed())?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_memory(params.block_count(), |blocks| {
        argon2().hash_password_into_with_memory(password, salt_bytes, &mut out, blocks)
    })
    .map_err(|_| hashing_failed())?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|_| hashing_failed())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|_| hashing_failed())?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored` (Argon2id, any parameters), computed in a
/// reused memory buffer and compared in constant time.
fn verify_blocking(password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(&parsed), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let hasher = Argon2::new(Algorithm::Argon2id, version, params.clone());
    let computed = with_memory(params.block_count(), |blocks| {
        hasher.hash_password_into_with_memory(password, salt_bytes, &mut out, blocks)
    });
    computed.is_ok() && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// Smallest argon2 buffer allocation, in bytes: above glibc's largest dynamic mmap threshold
/// (32 MiB on 64-bit). glibc raises its mmap threshold after each freed mmap'ed block up to
/// that size, after which 19 MiB buffers came from its arenas and were kept there when freed:
/// resident memory grew to ~500 MiB under a sign-in load (bench/load.sh). An allocation above
/// the largest threshold is always mmap'ed and unmapped when freed, so an idle server returns
/// to its idle size. Only the pages argon2 touches (19 MiB) become resident; the rest of the
/// reservation is never touched. Other allocators are unaffected by the larger reservation.
const MIN_BUFFER_BYTES: usize = 33 * 1024 * 1024;

/// Runs `f` with `blocks` blocks of argon2 working memory, freed (unmapped) afterwards.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let reserve = blocks.max(MIN_BUFFER_BYTES / std::mem::size_of::<Block>());
    let mut buffer: Vec<Block> = Vec::with_capacity(reserve);
    buffer.resize(blocks, Block::new());
    f(&mut buffer)
}

/// A hash of a password nobody has, verified against when the account does not exist, so an
/// unknown email costs the same time as a wrong password (docs/security.md case 86).
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::encode_b64(&[7u8; 16]).expect("salt");
    hash_blocking(b"no account has this password", &salt).expect("dummy hash")
});

/// Whether `password` matches `stored` (a PHC string). `None` (no such account, or no password
/// set) still spends the time of one verification and answers `false`.
pub async fn verify(password: &str, stored: Option<&str>) -> Result<bool, ServerError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Ok(false);
    }
    let password = password.to_owned();
    let stored = stored.map(str::to_owned);
    run(move || {
        // The dummy hash is made (once) here, on the blocking pool under a permit, never on a
        // request thread.
        let real = stored.is_some();
        let stored = stored.as_deref().unwrap_or(DUMMY_HASH.as_str());
        verify_blocking(password.as_bytes(), stored) && real
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_interoperate_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::encode_b64(&[9u8; 16]).unwrap();
        // Ours verifies with the reference implementation's verifier …
        let ours = hash_blocking(b"correct horse", &salt).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2().verify_password(b"correct horse", &parsed).is_ok());
        // … and a hash made elsewhere, with other parameters, verifies with ours.
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse", &salt)
        .unwrap()
        .to_string();
        assert!(verify_blocking(b"correct horse", &other));
        assert!(!verify_blocking(b"wrong horse", &other));
        assert!(!verify_blocking(
            b"correct horse",
            "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
        ));
        assert!(!verify_blocking(b"correct horse", "not a hash"));
    }

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id() {
        let h = hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", Some(&h)).await.unwrap());
        assert!(!verify("correct horse batterY", Some(&h)).await.unwrap());
        assert!(!verify("anything", None).await.unwrap());
        assert!(!verify("x", Some("not a phc string")).await.unwrap());
        // Two hashes of one password differ (random salts).
        assert_ne!(h, hash("correct horse battery").await.unwrap());
    }

    /// Case 98: abandoned requests (client gone, future dropped) keep their permit until
    /// their hash is done, so the bound holds for the hashing work itself.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn case_98_cancelled_requests_do_not_free_permits_early() {
        let hash = hash("correct horse battery").await.unwrap();
        let spawn = |n: usize| {
            (0..n)
                .map(|_| {
                    let hash = hash.clone();
                    tokio::spawn(async move { verify("wrong password!", Some(&hash)).await })
                })
                .collect::<Vec<_>>()
        };
        let first = spawn(6);
        // Wait (on the counter, not the clock) until hashes are running, then abandon them.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while load().running == 0 {
            assert!(std::time::Instant::now() < deadline, "no hash ever started");
            tokio::task::yield_now().await;
        }
        for task in &first {
            task.abort();
        }
        for task in spawn(6) {
            assert!(!task.await.unwrap().unwrap());
        }
        let load = load();
        assert!(
            load.peak_running <= MAX_CONCURRENT_HASHES,
            "{load:?}: more hashes ran at once than permits exist"
        );
    }

    #[tokio::test]
    async fn policy_is_checked_before_hashing() {
        assert!(hash("short").await.is_err());
        assert!(hash(&"a".repeat(MAX_PASSWORD_BYTES + 1)).await.is_err());
        assert!(!verify(&"a".repeat(1 << 20), None).await.unwrap());
        assert!(check_policy("ünïcödé!").is_ok());
    }
}
