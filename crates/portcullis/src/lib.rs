//! # Portcullis
//!
//! Authentication for Rust apps: verify access tokens and ID tokens from any OpenID Connect
//! provider (with Kinde's conventions spoken natively), read permissions, roles, organizations
//! and feature flags from them, and configure it all from the environment.
//!
//! ```no_run
//! use portcullis::{Config, TokenVerifier};
//!
//! # async fn run() -> Result<(), portcullis::Error> {
//! // PORTCULLIS_ISSUER (or KINDE_DOMAIN) and PORTCULLIS_AUDIENCE (or KINDE_AUDIENCE).
//! let config = Config::from_env()?;
//! let verifier = TokenVerifier::from_config(&config)?; // build once, clone freely
//!
//! # let bearer_token = "";
//! let claims = verifier.verify_access_token(bearer_token).await?;
//! let can_write = claims.has_permission("create:todos");
//! let theme = claims.string_flag("theme", Some("light"))?;
//! # let _ = (can_write, theme);
//! # Ok(()) }
//! ```
//!
//! Modules are named for what they hold: [`verify`] (the verifier), [`jwks`] (the key cache),
//! [`discovery`] (provider metadata), [`claims`] (typed claims and helpers), [`config`],
//! [`error`], [`clock`], [`oauth`] (client flows), [`management`] (the management API client)
//! and [`tls`] (extra certificate authorities for HTTPS to the issuer).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod claims;
pub mod clock;
pub mod config;
pub mod discovery;
pub mod error;
mod http;
mod jose;
pub mod jwks;
pub mod management;
pub mod oauth;
pub mod tls;
pub mod verify;
pub mod web;

pub use claims::{Claims, FlagValue, Role};
pub use config::{ClientSecret, Config, ConfigBuilder};
pub use error::{Error, OAuthError, Reason, Result, TokenError};
pub use http::HttpOptions;
pub use jose::{Algorithm, UnknownAlgorithm};
pub use jwks::JwksOptions;
pub use verify::{AccessTokenType, IdTokenChecks, TokenVerifier, VerifierBuilder};

/// The workspace README's examples, compiled and run as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct WorkspaceReadme;

/// The crate README's examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct CrateReadme;
