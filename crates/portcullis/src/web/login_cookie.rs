//! The sign-ins under way, each in a short-lived cookie of its own, sealed with AEAD.
//!
//! A sign-in's `state`, `nonce` and PKCE verifier (with its `return_to`) are not kept in the
//! session record: two `/login` requests that arrive at the same time on one session would
//! each load the record, add their sign-in and save it, and the last save would win (with a
//! cookie session store, the last `Set-Cookie`). Each sign-in has its own cookie instead,
//! named for its `state` ([`LoginCookies::name`]), so concurrent sign-ins never write the same
//! thing, whatever the framework or the session store.
//!
//! The cookie is sealed (AES-256-GCM, a random 96-bit nonce, its name as associated data)
//! under a [`CookieKey`]: the browser can neither read the verifier nor forge or swap a
//! sign-in. It is `HttpOnly`, `SameSite=Lax` (the provider's redirect back is a cross-site
//! top-level navigation), `Path=/` (it must reach the start routes, which cap how many there
//! are, and the callback, wherever an app mounts them), lives for
//! [`DEFAULT_PENDING_LOGIN_TTL`], and is `Secure` with a `__Host-` name prefix unless the
//! redirect URI is plain `http` (local development). At most [`MAX_PENDING`] are kept: a new
//! sign-in drops the oldest (docs/security.md case 44).

use std::fmt;
use std::sync::OnceLock;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::error::ConfigError;
use crate::oauth::DEFAULT_PENDING_LOGIN_TTL;
use crate::web::signin::{MAX_PENDING, PendingEntry};

/// The name of a login cookie, before its 8 hex digits (and after `__Host-` when `Secure`).
pub const LOGIN_COOKIE_PREFIX: &str = "portcullis-login-";

/// The shortest key [`CookieKey::new`] accepts, in bytes.
pub const MIN_COOKIE_KEY_LEN: usize = 32;

/// Most bytes of a login cookie's value that are read (a sealed sign-in is well under 1 KiB).
const MAX_VALUE_LEN: usize = 3072;

/// Most login cookies of one request that are looked at.
const MAX_COOKIES_READ: usize = 32;

/// The format of a sealed cookie's value (its first byte, also authenticated).
const VERSION: u8 = 1;

const TAG_LEN: usize = 16;

/// The secret that seals the login cookies; see [`crate::web::WebAuthBuilder::cookie_key`].
///
/// Without one, the key is derived from the client secret (HKDF-SHA256, a fixed label); a
/// client without a secret (a public client) gets a random key for the life of the process —
/// then a sign-in must finish on the instance that started it, so an app that runs several
/// instances behind a load balancer must set the same key on each.
///
/// ```
/// use portcullis::web::CookieKey;
///
/// assert!(CookieKey::new(b"0123456789abcdef0123456789abcdef").is_ok());
/// assert!(CookieKey::new(b"too short").is_err());
/// ```
#[derive(Clone)]
pub struct CookieKey(Vec<u8>);

impl CookieKey {
    /// A key from secret bytes (at least [`MIN_COOKIE_KEY_LEN`], e.g. 32 random bytes, or a
    /// long random string from the app's secret store). The sealing key is derived from it.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_COOKIE_KEY_LEN {
            return Err(ConfigError::new(
                "cookie_key",
                format!("must be at least {MIN_COOKIE_KEY_LEN} bytes of secret"),
            ));
        }
        Ok(CookieKey(secret.to_vec()))
    }
}

impl fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieKey([redacted])")
    }
}

/// The random key of a process whose app has neither a cookie key nor a client secret.
fn process_key() -> Result<&'static [u8; 32], ConfigError> {
    static KEY: OnceLock<Option<[u8; 32]>> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).ok().map(|()| key)
    })
    .as_ref()
    .ok_or_else(|| {
        ConfigError::new(
            "cookie_key",
            "no random key could be made for the login cookies: set one",
        )
    })
}

/// The login cookies of one app: their key and attributes.
pub(crate) struct LoginCookies {
    key: LessSafeKey,
    secure: bool,
    ttl_secs: i64,
}

impl fmt::Debug for LoginCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginCookies")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

/// A login cookie of a request, opened.
pub(crate) struct Opened {
    pub(crate) name: String,
    pub(crate) entry: Option<Sealed>,
}

/// What a login cookie seals: the sign-in, and when it was sealed (nanoseconds since the Unix
/// epoch, to tell the oldest of sign-ins started within one second).
#[derive(Serialize, Deserialize)]
pub(crate) struct Sealed {
    pub(crate) entry: PendingEntry,
    #[serde(default)]
    pub(crate) sealed_at: u64,
}

fn nanos_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl LoginCookies {
    /// The login cookies of an app configured by `config` (its client secret and redirect
    /// URI), sealed under `key` when given.
    pub(crate) fn new(
        config: &Config,
        key: Option<&CookieKey>,
    ) -> Result<LoginCookies, ConfigError> {
        let ikm: &[u8] = match (key, config.client_secret()) {
            (Some(k), _) => &k.0,
            (None, Some(secret)) => secret.expose().as_bytes(),
            (None, None) => process_key()?,
        };
        let secure = !config
            .redirect_uri()
            .is_some_and(|u| u.len() >= 7 && u[..7].eq_ignore_ascii_case("http://"));
        Ok(LoginCookies {
            key: derive(ikm)?,
            secure,
            ttl_secs: i64::try_from(DEFAULT_PENDING_LOGIN_TTL.as_secs()).unwrap_or(600),
        })
    }

    /// Whether the cookies are `Secure` (and `__Host-` prefixed).
    #[cfg(test)]
    fn secure(&self) -> bool {
        self.secure
    }

    fn prefix(&self) -> String {
        if self.secure {
            format!("__Host-{LOGIN_COOKIE_PREFIX}")
        } else {
            LOGIN_COOKIE_PREFIX.to_owned()
        }
    }

    /// The cookie name of the sign-in with this `state`: the prefix and 8 hex digits of
    /// SHA-256 of the state.
    pub(crate) fn name(&self, state: &str) -> String {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, state.as_bytes());
        let mut name = self.prefix();
        for b in &digest.as_ref()[..4] {
            name.push_str(&format!("{b:02x}"));
        }
        name
    }

    /// The `Set-Cookie` value keeping `entry` (its name, and the header).
    pub(crate) fn seal(&self, entry: &PendingEntry) -> Option<(String, String)> {
        let name = self.name(entry.login.state());
        let sealed = SealedRef {
            entry,
            sealed_at: nanos_now(),
        };
        let mut in_out = serde_json::to_vec(&sealed).ok()?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).ok()?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(&name).as_slice()),
                &mut in_out,
            )
            .ok()?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        let value = URL_SAFE_NO_PAD.encode(sealed);
        let header = self.set_cookie(&name, &value, self.ttl_secs);
        Some((name, header))
    }

    /// The `Set-Cookie` value removing the cookie `name`.
    pub(crate) fn clear(&self, name: &str) -> String {
        self.set_cookie(name, "", 0)
    }

    fn set_cookie(&self, name: &str, value: &str, max_age: i64) -> String {
        let mut header =
            format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax");
        if self.secure {
            header.push_str("; Secure");
        }
        header
    }

    /// The sign-in sealed in `value` of the cookie `name`, if it opens.
    fn open(&self, name: &str, value: &str) -> Option<Sealed> {
        if value.len() > MAX_VALUE_LEN {
            return None;
        }
        let sealed = URL_SAFE_NO_PAD.decode(value.trim_matches('"')).ok()?;
        let (&version, rest) = sealed.split_first()?;
        if version != VERSION || rest.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad(name).as_slice()), &mut in_out)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }

    /// The request's login cookies (from its `Cookie` header), opened: `entry` is `None` for
    /// one that is tampered with, sealed under another key, or unreadable.
    pub(crate) fn read(&self, cookie_header: Option<&str>) -> Vec<Opened> {
        let prefix = self.prefix();
        cookie_pairs(cookie_header)
            .filter(|(name, _)| name.starts_with(&prefix))
            .take(MAX_COOKIES_READ)
            .map(|(name, value)| Opened {
                entry: self.open(name, value),
                name: name.to_owned(),
            })
            .collect()
    }

    /// Whether the request carries a cookie named `name`.
    pub(crate) fn is_present(&self, cookie_header: Option<&str>, name: &str) -> bool {
        cookie_pairs(cookie_header).any(|(n, _)| n == name)
    }

    /// The sign-in of `state` in the request's cookies: the cookie named for it, opened, whose
    /// sealed state is `state` (compared in constant time).
    pub(crate) fn find(&self, cookie_header: Option<&str>, state: &str) -> Option<PendingEntry> {
        let name = self.name(state);
        cookie_pairs(cookie_header)
            .filter(|(n, _)| *n == name)
            .take(MAX_COOKIES_READ)
            .filter_map(|(n, value)| self.open(n, value))
            .map(|sealed| sealed.entry)
            .find(|entry| bool::from(entry.login.state().as_bytes().ct_eq(state.as_bytes())))
    }

    /// The cookies to remove before one more sign-in is kept, at `now` (Unix seconds): those
    /// that do not open or have expired, then the oldest while [`MAX_PENDING`] would be
    /// exceeded. `new_name` (the new sign-in's cookie, replaced anyway) is not counted.
    pub(crate) fn to_drop(&self, opened: &[Opened], new_name: &str, now: i64) -> Vec<String> {
        let mut drop = Vec::new();
        let mut live: Vec<(i64, u64, &str)> = Vec::new();
        for cookie in opened {
            if cookie.name == new_name {
                continue;
            }
            match &cookie.entry {
                Some(s) if now.saturating_sub(s.entry.login.created_at()) <= self.ttl_secs => {
                    live.push((s.entry.login.created_at(), s.sealed_at, &cookie.name));
                }
                _ => drop.push(cookie.name.clone()),
            }
        }
        live.sort();
        let excess = (live.len() + 1).saturating_sub(MAX_PENDING);
        drop.extend(live.iter().take(excess).map(|(_, _, n)| (*n).to_owned()));
        drop.sort();
        drop.dedup();
        drop
    }
}

/// [`Sealed`], borrowed, to seal.
#[derive(Serialize)]
struct SealedRef<'a> {
    entry: &'a PendingEntry,
    sealed_at: u64,
}

/// The sealing key derived from `ikm` (HKDF-SHA256, fixed salt and label).
fn derive(ikm: &[u8]) -> Result<LessSafeKey, ConfigError> {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"portcullis web sign-in");
    let label: &[&[u8]] = &[b"portcullis login cookie AES-256-GCM key v1"];
    let prk = salt.extract(ikm);
    let okm = prk
        .expand(label, &AES_256_GCM)
        .map_err(|_| ConfigError::new("cookie_key", "the sealing key cannot be derived"))?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

/// The associated data of a cookie: its format and name (a sealed sign-in cannot be moved
/// to another cookie name).
fn aad(name: &str) -> Vec<u8> {
    let mut aad = vec![VERSION];
    aad.extend_from_slice(name.as_bytes());
    aad
}

/// The `name=value` pairs of a `Cookie` header.
fn cookie_pairs(header: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    header
        .unwrap_or("")
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(n, v)| (n.trim(), v.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::PendingLogin;

    fn config(redirect: &str, secret: Option<&str>) -> Config {
        let mut b = Config::builder("https://issuer.example.com")
            .client_id("web")
            .redirect_uri(redirect);
        if let Some(s) = secret {
            b = b.client_secret(s);
        }
        b.build().unwrap()
    }

    fn entry(state: &str, created_at: i64) -> PendingEntry {
        let login: PendingLogin = serde_json::from_value(serde_json::json!({
            "state": state,
            "nonce": "n",
            "code_verifier": "v",
            "redirect_uri": "https://app.example.com/callback",
            "created_at": created_at,
        }))
        .unwrap();
        PendingEntry {
            login,
            return_to: "/x".into(),
        }
    }

    /// The header value of a `Set-Cookie`, as the browser sends it back.
    fn sent(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_owned()
    }

    #[test]
    fn sealed_sign_ins_open_only_under_their_name_and_key() {
        let cookies = LoginCookies::new(
            &config("https://app.example.com/callback", Some("s3cret-s3cret")),
            None,
        )
        .unwrap();
        let (name, set) = cookies.seal(&entry("state-1", 100)).unwrap();
        assert!(name.starts_with("__Host-portcullis-login-"), "{name}");
        assert_eq!(name.len(), "__Host-portcullis-login-".len() + 8);
        for a in [
            "Path=/",
            "Max-Age=600",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
        ] {
            assert!(set.contains(a), "{a}: {set}");
        }
        assert!(!set.contains("state-1") && !set.contains("\"v\""));
        let header = format!("other=1; {}", sent(&set));
        let found = cookies.find(Some(&header), "state-1").unwrap();
        assert_eq!(found.return_to, "/x");
        assert!(cookies.find(Some(&header), "state-2").is_none());
        // Moved to another name, tampered, or sealed under another key: nothing.
        let value = sent(&set).split_once('=').unwrap().1.to_owned();
        let moved = format!("{}={value}", cookies.name("state-2"));
        assert!(cookies.find(Some(&moved), "state-2").is_none());
        let mut bytes = value.clone().into_bytes();
        let at = bytes.len() / 2;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = format!("{name}={}", String::from_utf8(bytes).unwrap());
        assert!(cookies.find(Some(&tampered), "state-1").is_none());
        for junk in ["", "!!!", "AAAA", &"A".repeat(5000)] {
            assert!(
                cookies
                    .find(Some(&format!("{name}={junk}")), "state-1")
                    .is_none()
            );
        }
        let other = LoginCookies::new(
            &config("https://app.example.com/callback", Some("another-secret")),
            None,
        )
        .unwrap();
        assert!(other.find(Some(&header), "state-1").is_none());
        let explicit = CookieKey::new([7u8; 32]).unwrap();
        let keyed = LoginCookies::new(
            &config("https://app.example.com/callback", Some("s3cret-s3cret")),
            Some(&explicit),
        )
        .unwrap();
        assert!(keyed.find(Some(&header), "state-1").is_none());
        assert!(format!("{explicit:?}").contains("redacted"));
    }

    #[test]
    fn plain_http_development_cookies_are_not_secure() {
        let cookies =
            LoginCookies::new(&config("http://localhost:3000/callback", None), None).unwrap();
        assert!(!cookies.secure());
        let (name, set) = cookies.seal(&entry("s", 1)).unwrap();
        assert!(name.starts_with(LOGIN_COOKIE_PREFIX));
        assert!(!set.contains("Secure"));
        // The random key of the process opens what it sealed.
        assert!(cookies.find(Some(&sent(&set)), "s").is_some());
        let clear = cookies.clear(&name);
        assert!(clear.starts_with(&format!("{name}=;")) && clear.contains("Max-Age=0"));
    }

    #[test]
    fn the_oldest_expired_and_unreadable_are_dropped() {
        let cookies = LoginCookies::new(
            &config("https://app.example.com/callback", Some("secret")),
            None,
        )
        .unwrap();
        let now = 10_000;
        let mut header = Vec::new();
        // All in one second: the order of sealing tells the oldest.
        for i in 0..MAX_PENDING + 2 {
            header.push(sent(
                &cookies.seal(&entry(&format!("s{i}"), now - 100)).unwrap().1,
            ));
        }
        header.push(sent(&cookies.seal(&entry("old", now - 601)).unwrap().1));
        header.push(format!("{}=forged", cookies.name("forged")));
        let header = header.join("; ");
        let opened = cookies.read(Some(&header));
        assert_eq!(opened.len(), MAX_PENDING + 4);
        let drop = cookies.to_drop(&opened, &cookies.name("new"), now);
        let mut expected: Vec<String> = ["s0", "s1", "s2", "old", "forged"]
            .iter()
            .map(|s| cookies.name(s))
            .collect();
        expected.sort();
        assert_eq!(drop, expected);
    }
}
