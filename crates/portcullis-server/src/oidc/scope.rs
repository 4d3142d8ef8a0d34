//! The `scope` and `audience` parameters of authorization and token requests.

use crate::AppState;
use crate::error::ServerError;

/// The scopes of a space-separated `scope` parameter; `openid` when it is absent.
///
/// Every scope must be an RFC 6749 §3.3 `scope-token`: printable ASCII without `"` and `\`
/// (`%x21 / %x23-5B / %x5D-7E`). Anything else (control characters, non-ASCII, quotes) is
/// refused rather than copied into tokens and answers. Extra spaces between scopes are
/// tolerated.
pub(crate) fn requested_scopes(scope: Option<&str>) -> Result<Vec<String>, InvalidScope> {
    scope_tokens(scope.unwrap_or("openid")).map(|tokens| tokens.map(str::to_owned).collect())
}

/// The scope tokens of `scope`, split on spaces, once each is checked (see
/// [`requested_scopes`]).
pub(crate) fn scope_tokens(scope: &str) -> Result<impl Iterator<Item = &str>, InvalidScope> {
    if let Some(bad) = scope.chars().find(|&c| c != ' ' && !is_scope_char(c)) {
        return Err(InvalidScope(bad));
    }
    Ok(scope.split(' ').filter(|s| !s.is_empty()))
}

/// RFC 6749 §3.3 `NQCHAR`.
fn is_scope_char(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

/// A `scope` parameter with a character RFC 6749 §3.3 does not allow in a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidScope(char);

impl std::fmt::Display for InvalidScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scope holds the character U+{:04X}, which RFC 6749 §3.3 does not allow",
            u32::from(self.0)
        )
    }
}

/// The audiences of a space-separated `audience` parameter, if application `app_id` may use
/// every one of them (`invalid_target` otherwise); none when it is absent.
pub(crate) async fn granted_audiences(
    state: &AppState,
    app_id: &str,
    audience: Option<&str>,
) -> Result<Option<Vec<String>>, ServerError> {
    let mut audiences = Vec::new();
    for aud in audience.unwrap_or("").split_whitespace() {
        if state.store().api_grant(app_id, aud).await?.is_none() {
            return Ok(None);
        }
        audiences.push(aud.to_owned());
    }
    Ok(Some(audiences))
}
