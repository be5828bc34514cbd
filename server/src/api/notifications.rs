//! `/api/v1/notifications/` (superusers): notification channels, and their test.
super::crud::crud!(
    crate::services::notifications,
    "notifications",
    "/api/v1/notifications/",
    "/api/v1/notifications/{id}/",
    app::dto::NotificationChannel,
    app::dto::NotificationChannelInput
);

pub mod actions {
    use app::dto::{ErrorDetail, NotificationTest};
    use axum::{Json, extract::State};
    use utoipa_axum::{router::OpenApiRouter, routes};

    use crate::{
        api::{auth::UserAuth, extract::Id},
        error::Result,
        services::notifications,
        state::AppState,
    };

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new().routes(routes!(test))
    }

    /// Sends a test message through the channel now and answers whether it was accepted.
    #[utoipa::path(post, path = "/api/v1/notifications/{id}/test/", tag = "notifications",
        params(("id" = i32, Path)),
        responses((status = 200, body = NotificationTest), (status = 403, body = ErrorDetail),
                  (status = 404, body = ErrorDetail)))]
    async fn test(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Id(id): Id,
    ) -> Result<Json<NotificationTest>> {
        Ok(Json(notifications::test(&st, &actor, id).await?))
    }
}
