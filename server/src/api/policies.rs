//! `/api/v1/policies/`
super::crud::crud!(
    crate::services::policies,
    "policies",
    "/api/v1/policies/",
    "/api/v1/policies/{id}/",
    app::dto::Policy,
    app::dto::PolicyInput
);

/// Actions on one policy beyond CRUD.
pub mod actions {
    use axum::{Json, extract::State};
    use chrono::{DateTime, Utc};
    use utoipa_axum::{router::OpenApiRouter, routes};

    use app::dto::{ErrorDetail, FieldErrors};

    use crate::{
        api::extract::{Id, MonthQuery},
        error::Result,
        services::{Actor, calendar},
        state::AppState,
    };

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new().routes(routes!(policy_calendar))
    }

    /// Every run of the policy in the current UTC month (or `?month=YYYY-MM`), past ones
    /// included, ascending; empty while the policy or its schedule is disabled.
    #[utoipa::path(get, path = "/api/v1/policies/{id}/calendar/", tag = "policies",
        params(("id" = i32, Path), MonthQuery),
        responses((status = 200, body = Vec<DateTime<Utc>>), (status = 400, body = FieldErrors),
                  (status = 404, body = ErrorDetail)))]
    async fn policy_calendar(
        State(st): State<AppState>,
        actor: Actor,
        Id(id): Id,
        q: MonthQuery,
    ) -> Result<Json<Vec<DateTime<Utc>>>> {
        Ok(Json(
            calendar::policy_calendar(&st, &actor, id, q.month.as_deref()).await?,
        ))
    }
}
