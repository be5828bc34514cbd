//! `/api/v1/repositories/`
super::crud::crud!(
    crate::services::repositories,
    "repositories",
    "/api/v1/repositories/",
    "/api/v1/repositories/{id}/",
    app::dto::Repository,
    app::dto::RepositoryInput
);
