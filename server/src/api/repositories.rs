//! `/api/v1/repositories/`
super::crud::crud!(
    crate::services::repositories,
    "repositories",
    "/api/v1/repositories/",
    "/api/v1/repositories/{id}/",
    app::dto::Repository,
    app::dto::RepositoryInput
);

/// Actions on one repository beyond CRUD.
pub mod actions {
    use axum::{Json, extract::State, http::StatusCode};
    use utoipa_axum::{router::OpenApiRouter, routes};

    use app::dto::{
        ArchivesImported, ErrorDetail, FieldErrors, HostKeyAccept, IntegrityInput, Launched,
        Repository, RepositoryKey, RepositoryLock,
    };

    use crate::api::auth::UserAuth;

    use crate::{
        api::extract::{ApiJson, Id},
        error::Result,
        services::{archives, host_keys, integrity, repositories},
        state::AppState,
    };

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(check_integrity))
            .routes(routes!(scan_host_key))
            .routes(routes!(accept_host_key))
            .routes(routes!(export_key))
            .routes(routes!(lock_state))
            .routes(routes!(break_lock))
            .routes(routes!(import_archives))
    }

    /// The repository key for disaster recovery (superuser): `borg key export` (`key`, import
    /// with `borg key import REPO FILE`) and `--paper` (`paper`, typed back with `borg key
    /// import --paper REPO`). Keep it apart from the passphrase. 409 for an unencrypted
    /// repository or one no client reaches yet; 502 when borg cannot be asked.
    #[utoipa::path(get, path = "/api/v1/repositories/{id}/key/", tag = "repositories",
        params(("id" = i32, Path)),
        responses((status = 200, body = RepositoryKey), (status = 403, body = ErrorDetail),
                  (status = 404, body = ErrorDetail), (status = 409, body = ErrorDetail),
                  (status = 502, body = ErrorDetail)))]
    async fn export_key(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Id(id): Id,
    ) -> Result<Json<RepositoryKey>> {
        Ok(Json(repositories::key(&st, &actor, id).await?))
    }

    /// Whether borg's lock on the repository is held: `busy` (a job of ours runs on it),
    /// `locked` (held by something else, maybe a stale lock), `free`.
    #[utoipa::path(get, path = "/api/v1/repositories/{id}/lock/", tag = "repositories",
        params(("id" = i32, Path)),
        responses((status = 200, body = RepositoryLock), (status = 404, body = ErrorDetail),
                  (status = 409, body = ErrorDetail), (status = 502, body = ErrorDetail)))]
    async fn lock_state(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Id(id): Id,
    ) -> Result<Json<RepositoryLock>> {
        Ok(Json(repositories::lock(&st, &actor, id).await?))
    }

    /// `borg break-lock` (superuser), only while no job of any node runs on the repository
    /// (409 naming the job otherwise); records who did it and answers the lock state after.
    #[utoipa::path(post, path = "/api/v1/repositories/{id}/break-lock/", tag = "repositories",
        params(("id" = i32, Path)),
        responses((status = 200, body = RepositoryLock), (status = 403, body = ErrorDetail),
                  (status = 404, body = ErrorDetail), (status = 409, body = ErrorDetail),
                  (status = 502, body = ErrorDetail)))]
    async fn break_lock(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Id(id): Id,
    ) -> Result<Json<RepositoryLock>> {
        Ok(Json(repositories::break_lock(&st, &actor, id).await?))
    }

    /// Records the archives borg lists in the repository that this server did not make, as
    /// `foreign` (never pruned), and launches a catalog job for each (superuser).
    #[utoipa::path(post, path = "/api/v1/repositories/{id}/import/", tag = "repositories",
        params(("id" = i32, Path)),
        responses((status = 200, body = ArchivesImported), (status = 403, body = ErrorDetail),
                  (status = 404, body = ErrorDetail), (status = 409, body = ErrorDetail),
                  (status = 502, body = ErrorDetail)))]
    async fn import_archives(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Id(id): Id,
    ) -> Result<Json<ArchivesImported>> {
        Ok(Json(archives::import(&st, &actor, id).await?))
    }

    /// Fetches the SSH host key a remote repository's host presents now (superuser); see the
    /// client's. 409 for a repository that is a folder, 502 when its host cannot be reached.
    #[utoipa::path(post, path = "/api/v1/repositories/{id}/host_key/scan/", tag = "repositories",
        params(("id" = i32, Path)),
        responses((status = 200, body = Repository), (status = 403, body = ErrorDetail),
                  (status = 404, body = ErrorDetail), (status = 409, body = ErrorDetail),
                  (status = 502, body = ErrorDetail)))]
    async fn scan_host_key(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Id(id): Id,
    ) -> Result<Json<Repository>> {
        Ok(Json(host_keys::scan_repository(&st, &actor, id).await?))
    }

    /// Pins the key a remote repository's host presented last when `fingerprint` is its
    /// fingerprint (superuser).
    #[utoipa::path(post, path = "/api/v1/repositories/{id}/host_key/accept/", tag = "repositories",
        params(("id" = i32, Path)), request_body = HostKeyAccept,
        responses((status = 200, body = Repository), (status = 400, body = FieldErrors),
                  (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail),
                  (status = 409, body = ErrorDetail)))]
    async fn accept_host_key(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Id(id): Id,
        ApiJson(input): ApiJson<HostKeyAccept>,
    ) -> Result<Json<Repository>> {
        Ok(Json(
            host_keys::accept_repository(&st, &actor, id, input).await?,
        ))
    }

    /// Checks the repository (superuser): an `integrity` job runs `borg check` (with
    /// `verify_data`, `--verify-data`), then extracts `sample` random files (default 20) of the
    /// newest archive of `policy` (default: of the repository) and compares them with the
    /// catalog (size) and with their source where it is unchanged since the backup (SHA-256).
    /// 201 `{"job", "jobs"}`; 409 when no enabled client of a policy reaches the repository.
    #[utoipa::path(post, path = "/api/v1/repositories/{id}/integrity/", tag = "repositories",
        params(("id" = i32, Path)), request_body = IntegrityInput,
        responses((status = 201, body = Launched), (status = 400, body = FieldErrors),
                  (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail),
                  (status = 409, body = ErrorDetail)))]
    async fn check_integrity(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Id(id): Id,
        ApiJson(input): ApiJson<IntegrityInput>,
    ) -> Result<(StatusCode, Json<Launched>)> {
        Ok((
            StatusCode::CREATED,
            Json(integrity::launch(&st, &actor, id, input).await?),
        ))
    }
}
