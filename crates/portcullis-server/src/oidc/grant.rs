//! What a sign-in grants: the validated authorization request, kept with the interaction while
//! the user signs in, then inside the code and every refresh token of the grant.

use serde::{Deserialize, Serialize};

use crate::domain::ClientId;

/// A validated authorization request, kept while the user signs in and then inside the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuthRequest {
    pub client_id: ClientId,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub scopes: Vec<String>,
    pub audiences: Vec<String>,
    pub org_code: Option<String>,
    /// Filled in when the code is issued.
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub auth_time: i64,
}
