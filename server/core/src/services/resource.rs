//! What the list and detail reads of every stored resource have in common.
use std::future::Future;

use cyborg_dto::Page;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PrimaryKeyTrait, QueryFilter};

use super::{
    Actor, find,
    list::{self, Field, ListRequest},
};
use crate::{error::Result, state::AppState};

pub trait Resource {
    type Entity: EntityTrait<Model: Sync + Send>;
    type Dto: Send;
    /// The filterable fields; the first one is the id.
    const FIELDS: &'static [Field];

    /// Turns rows into API objects, loading what they link to in a few batched queries.
    fn to_dtos(
        st: &AppState,
        actor: &Actor,
        rows: Vec<<Self::Entity as EntityTrait>::Model>,
    ) -> impl Future<Output = Result<Vec<Self::Dto>>> + Send;
}

pub async fn list<R: Resource>(
    st: &AppState,
    actor: &Actor,
    req: &ListRequest,
) -> Result<Page<R::Dto>> {
    let plan = list::plan(R::FIELDS, &R::FIELDS[0], req, st.db.get_database_backend())?;
    let (count, select) = list::window(&st.db, R::Entity::find(), &plan).await?;
    let rows = select.all(&st.db).await?;
    Ok(list::page(
        req,
        &plan,
        count,
        R::to_dtos(st, actor, rows).await?,
    ))
}

/// How many objects `req` (its filters and search) matches, without reading any: the
/// overview's counts.
pub async fn count<R: Resource>(st: &AppState, req: &ListRequest) -> Result<u64> {
    let plan = list::plan(R::FIELDS, &R::FIELDS[0], req, st.db.get_database_backend())?;
    let (count, _) = list::window(&st.db, R::Entity::find(), &plan).await?;
    Ok(count)
}

pub async fn get<R: Resource>(st: &AppState, actor: &Actor, id: i32) -> Result<R::Dto>
where
    <<R::Entity as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i32>,
{
    let row = find::<R::Entity>(&st.db, id).await?;
    one::<R>(st, actor, row).await
}

pub async fn one<R: Resource>(
    st: &AppState,
    actor: &Actor,
    row: <R::Entity as EntityTrait>::Model,
) -> Result<R::Dto> {
    let mut v = R::to_dtos(st, actor, vec![row]).await?;
    Ok(v.remove(0))
}

/// Whether another row than `except` already holds `value` in the unique column `col`.
pub async fn taken<E: EntityTrait>(
    db: &impl ConnectionTrait,
    col: E::Column,
    value: &str,
    id_col: E::Column,
    except: Option<i32>,
) -> Result<bool> {
    let mut q = E::find().filter(col.eq(value));
    if let Some(id) = except {
        q = q.filter(id_col.ne(id));
    }
    Ok(q.one(db).await?.is_some())
}
