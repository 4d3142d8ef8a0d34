//! Options of an RP-initiated logout URL.

use std::fmt;

/// What to put into a logout URL ([`super::AuthClient::logout_url_with`]), beyond the
/// configuration's post-logout redirect URI.
///
/// ```
/// use portcullis::oauth::LogoutOptions;
///
/// let options = LogoutOptions::new()
///     .redirect("https://app.example.com/signed-out")
///     .id_token_hint("eyJ…")
///     .state("st_123");
/// # let _ = options;
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LogoutOptions {
    pub(crate) redirect: Option<String>,
    pub(crate) id_token_hint: Option<String>,
    pub(crate) state: Option<String>,
}

impl LogoutOptions {
    /// No options: the configured post-logout redirect URI, no hint, no state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the browser here after logout instead of the configured post-logout redirect
    /// URI (it must be registered as a logout URL of the application).
    pub fn redirect(mut self, uri: impl Into<String>) -> Self {
        self.redirect = Some(uri.into());
        self
    }

    /// The user's ID token (OIDC `id_token_hint`): tells the provider whose session ends and
    /// which application asks, so it may skip asking the user to confirm.
    pub fn id_token_hint(mut self, id_token: impl Into<String>) -> Self {
        self.id_token_hint = Some(id_token.into());
        self
    }

    /// OIDC `state`: an opaque value the provider appends, unchanged, to the post-logout
    /// redirect, so the app can tie the return to the logout it started.
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }
}

impl fmt::Debug for LogoutOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hint is a token: only whether there is one.
        f.debug_struct("LogoutOptions")
            .field("redirect", &self.redirect)
            .field("id_token_hint", &self.id_token_hint.as_ref().map(|_| "…"))
            .field("state", &self.state)
            .finish()
    }
}
