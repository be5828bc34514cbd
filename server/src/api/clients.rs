//! `/api/v1/clients/`
super::crud::crud!(
    crate::services::clients,
    "clients",
    "/api/v1/clients/",
    "/api/v1/clients/{id}/",
    app::dto::Client,
    app::dto::ClientInput
);

/// Actions on one client beyond CRUD: its SSH host key.
pub mod actions {
    use axum::{Json, extract::State};
    use utoipa_axum::{router::OpenApiRouter, routes};

    use app::dto::{Client, ErrorDetail, FieldErrors, HostKeyAccept};

    use crate::api::auth::UserAuth;

    use crate::{
        api::extract::{ApiJson, Id},
        error::Result,
        services::host_keys,
        state::AppState,
    };

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(scan_host_key))
            .routes(routes!(accept_host_key))
    }

    /// Fetches the SSH host key the client presents now (superuser) and, when it is not the
    /// pinned one, shows it as `host_key_seen` with its fingerprint for review. 502 when the
    /// client cannot be reached.
    #[utoipa::path(post, path = "/api/v1/clients/{id}/host_key/scan/", tag = "clients",
        params(("id" = i32, Path)),
        responses((status = 200, body = Client), (status = 403, body = ErrorDetail),
                  (status = 404, body = ErrorDetail), (status = 502, body = ErrorDetail)))]
    async fn scan_host_key(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Id(id): Id,
    ) -> Result<Json<Client>> {
        Ok(Json(host_keys::scan_client(&st, &actor, id).await?))
    }

    /// Pins `host_key_seen` (superuser) when `fingerprint` is its fingerprint: jobs then run
    /// against that key. 400 when the fingerprint differs, 409 when no key was fetched.
    #[utoipa::path(post, path = "/api/v1/clients/{id}/host_key/accept/", tag = "clients",
        params(("id" = i32, Path)), request_body = HostKeyAccept,
        responses((status = 200, body = Client), (status = 400, body = FieldErrors),
                  (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail),
                  (status = 409, body = ErrorDetail)))]
    async fn accept_host_key(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Id(id): Id,
        ApiJson(input): ApiJson<HostKeyAccept>,
    ) -> Result<Json<Client>> {
        Ok(Json(
            host_keys::accept_client(&st, &actor, id, input).await?,
        ))
    }
}
