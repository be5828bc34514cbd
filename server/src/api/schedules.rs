//! `/api/v1/schedules/`
super::crud::crud!(
    crate::services::schedules,
    "schedules",
    "/api/v1/schedules/",
    "/api/v1/schedules/{id}/",
    app::dto::Schedule,
    app::dto::ScheduleInput
);

/// The crontab preview the schedule editor calls while the operator types.
pub mod actions {
    use axum::{Json, extract::State};
    use chrono::{DateTime, Utc};
    use utoipa_axum::{router::OpenApiRouter, routes};

    use app::dto::{FieldErrors, SchedulePreviewInput};

    use crate::api::auth::UserAuth;

    use crate::{api::extract::ApiJson, error::Result, services::calendar, state::AppState};

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new().routes(routes!(preview))
    }

    /// The next `count` runs (1–100, default 10) strictly after now, or the 400 a save would give.
    #[utoipa::path(post, path = "/api/v1/schedules/preview/", tag = "schedules",
        request_body = SchedulePreviewInput,
        responses((status = 200, body = Vec<DateTime<Utc>>), (status = 400, body = FieldErrors)))]
    async fn preview(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        ApiJson(input): ApiJson<SchedulePreviewInput>,
    ) -> Result<Json<Vec<DateTime<Utc>>>> {
        Ok(Json(calendar::preview(&st, &actor, input).await?))
    }
}
