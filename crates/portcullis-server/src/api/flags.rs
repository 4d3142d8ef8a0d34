//! Management API: flags. (Operations are added here.)

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// The routes of this group.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
