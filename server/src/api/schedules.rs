//! `/api/v1/schedules/`
super::crud::crud!(
    crate::services::schedules,
    "schedules",
    "/api/v1/schedules/",
    "/api/v1/schedules/{id}/",
    app::dto::Schedule,
    app::dto::ScheduleInput
);
