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
    use axum::{
        Json,
        extract::{Path, State},
        http::StatusCode,
    };
    use chrono::{DateTime, Utc};
    use utoipa_axum::{router::OpenApiRouter, routes};

    use app::dto::{ErrorDetail, FieldErrors, Launched, ModuleList, Retention, VmModule};

    use crate::api::auth::UserAuth;

    use crate::{
        api::extract::{Id, MonthQuery, Query},
        error::{Error, Result},
        services::{calendar, jobs, modules, retention},
        state::AppState,
    };

    pub fn router() -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(policy_calendar))
            .routes(routes!(launch))
            .routes(routes!(module_query))
            .routes(routes!(vm_modules))
            .routes(routes!(policy_retention))
    }

    /// What a module finds on a client (superuser): `mysql` and `postgresql` list its databases
    /// (`SHOW DATABASES`, `pg_database`), `proxmox` its guests (`pvesh`), for a policy's
    /// `extra_vars` to name. The connection comes from `?user=&host=&port=` or from `?policy=ID`
    /// (that policy's `extra_vars` and stored password; a password never goes in a URL). 502 when
    /// the client cannot be reached or the tool fails there (its message included).
    #[utoipa::path(get, path = "/api/v1/policies/module/{module}/{client}/", tag = "policies",
        params(("module" = String, Path, description = "mysql, postgresql or proxmox"),
               ("client" = i32, Path)),
        responses((status = 200, body = ModuleList), (status = 400, body = FieldErrors),
                  (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail),
                  (status = 502, body = ErrorDetail)))]
    async fn module_query(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Path((module, client)): Path<(String, String)>,
        q: Query,
    ) -> Result<Json<ModuleList>> {
        let client: i32 = client.parse().map_err(|_| Error::not_found())?;
        Ok(Json(
            modules::query(&st, &actor, &module, client, &q.0).await?,
        ))
    }

    /// The VM providers a `vm` policy may name, each with the module query listing its guests.
    #[utoipa::path(get, path = "/api/v1/policies/vmmodule/", tag = "policies",
        responses((status = 200, body = Vec<VmModule>)))]
    async fn vm_modules(_: UserAuth) -> Json<Vec<VmModule>> {
        Json(modules::vm_modules())
    }

    /// Launches the policy now (superuser): per enabled client a backup job, then (catalog
    /// enabled) a catalog job, then (a keep_* rule and auto_prune) a prune job, each waiting on
    /// the one before, with a `check` job first when the client or repository is not ready.
    /// 201 `{"job": first backup job, "jobs": [backup jobs]}`; 409 while a backup of this policy
    /// on one of its clients is still active, or when no client is enabled.
    #[utoipa::path(post, path = "/api/v1/policies/{id}/launch/", tag = "policies",
        params(("id" = i32, Path)),
        responses((status = 201, body = Launched), (status = 403, body = ErrorDetail),
                  (status = 404, body = ErrorDetail), (status = 409, body = ErrorDetail)))]
    async fn launch(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Id(id): Id,
    ) -> Result<(StatusCode, Json<Launched>)> {
        Ok((
            StatusCode::CREATED,
            Json(jobs::launch_policy(&st, &actor, id).await?),
        ))
    }

    /// Every run of the policy in the current UTC month (or `?month=YYYY-MM`), past ones
    /// included, ascending; empty while the policy or its schedule is disabled.
    #[utoipa::path(get, path = "/api/v1/policies/{id}/calendar/", tag = "policies",
        params(("id" = i32, Path), MonthQuery),
        responses((status = 200, body = Vec<DateTime<Utc>>), (status = 400, body = FieldErrors),
                  (status = 404, body = ErrorDetail)))]
    async fn policy_calendar(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Id(id): Id,
        q: MonthQuery,
    ) -> Result<Json<Vec<DateTime<Utc>>>> {
        Ok(Json(
            calendar::policy_calendar(&st, &actor, id, q.month.as_deref()).await?,
        ))
    }

    /// What the next prune of the policy keeps and deletes: per lineage (its repository and
    /// each client), every archive this server recorded, newest first, with the rule that keeps
    /// it (`null` when the next prune deletes it). Archives in the repository that this server
    /// did not create are not listed: no prune ever deletes them.
    #[utoipa::path(get, path = "/api/v1/policies/{id}/retention/", tag = "policies",
        params(("id" = i32, Path)),
        responses((status = 200, body = Retention), (status = 404, body = ErrorDetail)))]
    async fn policy_retention(
        State(st): State<AppState>,
        UserAuth(actor): UserAuth,
        Id(id): Id,
    ) -> Result<Json<Retention>> {
        Ok(Json(retention::preview(&st, &actor, id).await?))
    }
}
