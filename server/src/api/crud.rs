//! The five handlers every managed resource has (list, create, read, replace/update, delete),
//! generated once so that each resource module only names its service, paths and types.

/// `crud!(service, tag, "/api/v1/things/", "/api/v1/things/{id}/", Dto, Input)` defines
/// `router()` and the handlers, each a thin call into `service`.
macro_rules! crud {
    ($svc:path, $tag:literal, $list:literal, $item:literal, $dto:ty, $input:ty) => {
        use axum::{Json, extract::State, http::StatusCode};
        use utoipa_axum::{router::OpenApiRouter, routes};
        use $svc as service;

        use app::dto::{ErrorDetail, FieldErrors, Page};

        use crate::api::auth::UserAuth;

        use crate::{
            api::extract::{ApiJson, Id, ListParams, Query},
            error::Result,

            state::AppState,
        };

        pub fn router() -> OpenApiRouter<AppState> {
            OpenApiRouter::new()
                .routes(routes!(list, create))
                .routes(routes!(read, replace, update, remove))
        }

        #[utoipa::path(get, path = $list, tag = $tag, params(ListParams),
            responses((status = 200, body = Page<$dto>), (status = 400, body = FieldErrors),
                      (status = 401, body = ErrorDetail)))]
        async fn list(State(st): State<AppState>, UserAuth(actor): UserAuth, q: Query) -> Result<Json<Page<$dto>>> {
            Ok(Json(service::list(&st, &actor, &q.list($list)).await?))
        }

        #[utoipa::path(post, path = $list, tag = $tag, request_body = $input,
            responses((status = 201, body = $dto), (status = 400, body = FieldErrors),
                      (status = 403, body = ErrorDetail)))]
        async fn create(
            State(st): State<AppState>,
            UserAuth(actor): UserAuth,
            ApiJson(input): ApiJson<$input>,
        ) -> Result<(StatusCode, Json<$dto>)> {
            Ok((StatusCode::CREATED, Json(service::create(&st, &actor, input).await?)))
        }

        #[utoipa::path(get, path = $item, tag = $tag, params(("id" = i32, Path)),
            responses((status = 200, body = $dto), (status = 404, body = ErrorDetail)))]
        async fn read(State(st): State<AppState>, UserAuth(actor): UserAuth, Id(id): Id) -> Result<Json<$dto>> {
            Ok(Json(service::get(&st, &actor, id).await?))
        }

        /// Replaces the object: the required fields must all be sent.
        #[utoipa::path(put, path = $item, tag = $tag, params(("id" = i32, Path)), request_body = $input,
            responses((status = 200, body = $dto), (status = 400, body = FieldErrors),
                      (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail)))]
        async fn replace(
            State(st): State<AppState>,
            UserAuth(actor): UserAuth,
            Id(id): Id,
            ApiJson(input): ApiJson<$input>,
        ) -> Result<Json<$dto>> {
            Ok(Json(service::update(&st, &actor, id, input, false).await?))
        }

        /// Changes only the fields sent.
        #[utoipa::path(patch, path = $item, tag = $tag, params(("id" = i32, Path)), request_body = $input,
            responses((status = 200, body = $dto), (status = 400, body = FieldErrors),
                      (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail)))]
        async fn update(
            State(st): State<AppState>,
            UserAuth(actor): UserAuth,
            Id(id): Id,
            ApiJson(input): ApiJson<$input>,
        ) -> Result<Json<$dto>> {
            Ok(Json(service::update(&st, &actor, id, input, true).await?))
        }

        #[utoipa::path(delete, path = $item, tag = $tag, params(("id" = i32, Path)),
            responses((status = 204), (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail),
                      (status = 409, body = ErrorDetail)))]
        async fn remove(State(st): State<AppState>, UserAuth(actor): UserAuth, Id(id): Id) -> Result<StatusCode> {
            service::delete(&st, &actor, id).await?;
            Ok(StatusCode::NO_CONTENT)
        }
    };
}

pub(crate) use crud;
