//! `/api/v1/policies/`
super::crud::crud!(
    crate::services::policies,
    "policies",
    "/api/v1/policies/",
    "/api/v1/policies/{id}/",
    app::dto::Policy,
    app::dto::PolicyInput
);
