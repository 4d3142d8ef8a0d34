//! Passwords: argon2id (OWASP parameters: 19 MiB, 2 iterations, 1 lane), hashed off the async
//! threads with bounded concurrency so a burst of logins cannot exhaust CPU or memory
//! (security.md case 98), and length-checked before any hashing (case 87).

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::ServerError;

/// Shortest password accepted (NIST SP 800-63B §3.1.1.2).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in bytes: refused before hashing.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// At most this many hashes run at once (each holds 19 MiB).
static PERMITS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));

fn argon2() -> Argon2<'static> {
    // m = 19 MiB, t = 2, p = 1: OWASP's first recommended argon2id configuration.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
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

async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ServerError> {
    let _permit = PERMITS
        .acquire()
        .await
        .map_err(|_| ServerError::Keys("the password hasher is closed".into()))?;
    tokio::task::spawn_blocking(f)
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
    run(move || {
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| ServerError::Keys("password hashing failed".into()))
    })
    .await?
}

/// A hash of a password nobody has, verified against when the account does not exist, so an
/// unknown email costs the same time as a wrong password (security.md case 86).
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::encode_b64(&[7u8; 16]).expect("salt");
    argon2()
        .hash_password(b"no account has this password", &salt)
        .expect("dummy hash")
        .to_string()
});

/// Whether `password` matches `stored` (a PHC string). `None` (no such account, or no password
/// set) still spends the time of one verification and answers `false`.
pub async fn verify(password: &str, stored: Option<&str>) -> Result<bool, ServerError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Ok(false);
    }
    let password = password.to_owned();
    let (stored, real) = match stored {
        Some(s) => (s.to_owned(), true),
        None => (DUMMY_HASH.clone(), false),
    };
    run(move || {
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && real
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test]
    async fn policy_is_checked_before_hashing() {
        assert!(hash("short").await.is_err());
        assert!(hash(&"a".repeat(MAX_PASSWORD_BYTES + 1)).await.is_err());
        assert!(!verify(&"a".repeat(1 << 20), None).await.unwrap());
        assert!(check_policy("ünïcödé!").is_ok());
    }
}
