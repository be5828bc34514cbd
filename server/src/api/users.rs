//! `/api/v1/users/`
super::crud::crud!(
    crate::services::users,
    "users",
    "/api/v1/users/",
    "/api/v1/users/{id}/",
    app::dto::User,
    app::dto::UserInput
);
