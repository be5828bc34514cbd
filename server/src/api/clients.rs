//! `/api/v1/clients/`
super::crud::crud!(
    crate::services::clients,
    "clients",
    "/api/v1/clients/",
    "/api/v1/clients/{id}/",
    app::dto::Client,
    app::dto::ClientInput
);
