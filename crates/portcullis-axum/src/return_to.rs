//! Where to send the browser after sign-in: only a same-site relative path (docs/security.md case
//! 37, RFC 9700 §4.11.1); anything else falls back to `/`. The rule lives in the SDK
//! ([`portcullis::web::safe_return_to`]), shared with the actix-web integration.

pub use portcullis::web::safe_return_to;
