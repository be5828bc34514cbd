//! `/api/v1/calendar/`: every enabled policy's runs in one month.
use app::dto::{CalendarEntry, FieldErrors};
use axum::{Json, extract::State};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::auth::UserAuth;

use crate::{api::extract::MonthQuery, error::Result, services::calendar, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(all_calendars))
}

/// The runs of every enabled policy in the current UTC month (or `?month=YYYY-MM`).
#[utoipa::path(get, path = "/api/v1/calendar/", tag = "policies", params(MonthQuery),
    responses((status = 200, body = Vec<CalendarEntry>), (status = 400, body = FieldErrors)))]
async fn all_calendars(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    q: MonthQuery,
) -> Result<Json<Vec<CalendarEntry>>> {
    Ok(Json(
        calendar::all_calendars(&st, &actor, q.month.as_deref()).await?,
    ))
}
