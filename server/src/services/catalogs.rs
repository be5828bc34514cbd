//! The catalog read side: every archived file, searchable across archives. Rows join the entry,
//! its archive and its path (stored once for all archives).
use app::dto::{CatalogEntry, Page};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, JoinType, QueryFilter, QuerySelect,
    RelationTrait, Select,
};

use super::{
    Actor,
    list::{self, Field, Kind, ListRequest},
};
use crate::{
    entities::{archive, catalog_entry, catalog_path},
    error::{Error, Result},
    state::AppState,
};

const E: &str = "catalog_entries";
const A: &str = "archives";
const P: &str = "catalog_paths";
pub const FIELDS: &[Field] = &[
    Field::new("id", E, "id", Kind::Int),
    Field::new("archive_name", A, "name", Kind::Text).searchable(),
    Field::new("path", P, "path", Kind::Text).searchable(),
    Field::new("job", A, "job_id", Kind::Int),
    Field::new("mode", E, "mode", Kind::Text),
    Field::new("mtime", E, "mtime", Kind::DateTime),
    Field::new("owner", E, "owner", Kind::Text),
    Field::new("group", E, "group", Kind::Text),
    Field::new("size", E, "size", Kind::Int),
    Field::new("healthy", E, "healthy", Kind::Bool),
    Field::new("archive", A, "id", Kind::Int),
    Field::new("repository", A, "repository_id", Kind::Int),
    Field::new("client", A, "client_id", Kind::Int),
    Field::new("policy", A, "policy_id", Kind::Int),
];

#[derive(Debug, FromQueryResult)]
struct Row {
    id: i64,
    archive_name: String,
    path: String,
    job: Option<i32>,
    mode: String,
    mtime: Option<DateTime<Utc>>,
    owner: String,
    group: String,
    size: i64,
    healthy: bool,
}

impl From<Row> for CatalogEntry {
    fn from(r: Row) -> Self {
        CatalogEntry {
            id: r.id,
            url: format!("/api/v1/catalogs/{}/", r.id),
            archive_name: r.archive_name,
            path: r.path,
            job: r.job,
            mode: r.mode,
            mtime: r.mtime,
            owner: r.owner,
            group: r.group,
            size: r.size,
            healthy: r.healthy,
        }
    }
}

fn joined() -> Select<catalog_entry::Entity> {
    catalog_entry::Entity::find()
        .select_only()
        .column(catalog_entry::Column::Id)
        .column_as(archive::Column::Name, "archive_name")
        .column_as(catalog_path::Column::Path, "path")
        .column_as(archive::Column::JobId, "job")
        .column(catalog_entry::Column::Mode)
        .column(catalog_entry::Column::Mtime)
        .column(catalog_entry::Column::Owner)
        .column(catalog_entry::Column::Group)
        .column(catalog_entry::Column::Size)
        .column(catalog_entry::Column::Healthy)
        .join(JoinType::InnerJoin, catalog_entry::Relation::Archive.def())
        .join(JoinType::InnerJoin, catalog_entry::Relation::Path.def())
}

pub async fn list(st: &AppState, _actor: &Actor, req: &ListRequest) -> Result<Page<CatalogEntry>> {
    let plan = list::plan(FIELDS, &FIELDS[0], req, st.db.get_database_backend())?;
    let (count, select) = list::window(&st.db, joined(), &plan).await?;
    let rows = select.into_model::<Row>().all(&st.db).await?;
    Ok(list::page(
        req,
        &plan,
        count,
        rows.into_iter().map(Into::into).collect(),
    ))
}

pub async fn get(st: &AppState, _actor: &Actor, id: i64) -> Result<CatalogEntry> {
    joined()
        .filter(catalog_entry::Column::Id.eq(id))
        .into_model::<Row>()
        .one(&st.db)
        .await?
        .map(Into::into)
        .ok_or_else(Error::not_found)
}
