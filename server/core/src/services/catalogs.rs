//! The catalog read side: every archived file, searchable across archives. Rows join the entry,
//! its archive and its path (stored once for all archives).
//!
//! Path searches (`path__icontains`, and the path half of `search`) look through the distinct
//! paths first — an archive's paths are shared by all the archives of a client, so there are
//! far fewer paths than entries — and then take the entries of the matching paths through the
//! `path_id` index: `catalog_entries.path_id IN (SELECT id FROM catalog_paths WHERE …)`. The
//! match itself is the list engine's `icontains` (full Unicode case folding on both backends);
//! on SQLite, whose case-folding GLOB with character classes is slow, a cheap necessary
//! condition is tested first (see `path_icontains`).
//!
//! When the process's in-memory index of the paths is current (`catalog::search_index`), it
//! names the candidate paths and the database applies the same match to those alone, by
//! primary key, instead of scanning every distinct path.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cyborg_dto::{CatalogEntry, Page};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult,
    JoinType, QueryFilter, QuerySelect, RelationTrait, Select,
    sea_query::{Alias, Condition, Expr, Func, LikeExpr, Query, SimpleExpr},
};

use super::{
    Actor,
    list::{self, Field, Kind, ListRequest},
};
use crate::{
    catalog::search_index::SearchIndex,
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
    list_in(&st.db, Some(&st.catalog_index), req).await
}

/// `list` without the server state (for benchmarks and tests): a page of catalog entries and
/// its count, with or without a search index.
pub async fn list_in(
    db: &DatabaseConnection,
    index: Option<&Arc<SearchIndex>>,
    req: &ListRequest,
) -> Result<Page<CatalogEntry>> {
    let backend = db.get_database_backend();
    // The whole request is planned first: every parameter is validated as on any list.
    let mut plan = list::plan(FIELDS, &FIELDS[0], req, backend)?;
    // Then again without the path searches, which get their distinct-paths-first form.
    let mut searches = Condition::all();
    let mut rest = Vec::with_capacity(req.params.len());
    for (key, value) in &req.params {
        let candidates = || async {
            match index {
                Some(index) => index.candidates(db, value).await,
                None => None,
            }
        };
        match key.as_str() {
            "path__icontains" => {
                let ids = candidates().await;
                searches = searches.add(path_icontains(value, backend, ids.as_deref()))
            }
            "search" if !value.trim().is_empty() => {
                let ids = candidates().await;
                let mut any = Condition::any();
                for f in FIELDS.iter().filter(|f| f.search) {
                    let expr = match f.table {
                        P => path_icontains(value, backend, ids.as_deref()),
                        A => match archive_icontains(db, f.column, value, backend).await? {
                            Some(expr) => expr,
                            // No archive matches: no `OR` for the database to plan around.
                            None => continue,
                        },
                        _ => list::icontains(
                            Expr::col((Alias::new(f.table), Alias::new(f.column))).into(),
                            value,
                            backend,
                        ),
                    };
                    any = any.add(expr);
                }
                searches = searches.add(any);
            }
            _ => rest.push((key.clone(), value.clone())),
        }
    }
    if rest.len() != req.params.len() {
        let others = ListRequest::new(req.path.clone(), rest);
        plan.condition = list::plan(FIELDS, &FIELDS[0], &others, backend)?
            .condition
            .add(searches);
    }
    // The view's `id` is computed (`archive_id × 2^29 + path_id`): ordering by it is ordering by
    // archive, then path, which the databases can read from indexes instead of sorting.
    let id = FIELDS[0].expr();
    plan.order = std::mem::take(&mut plan.order)
        .into_iter()
        .flat_map(|(expr, order)| {
            if expr == id {
                vec![
                    (
                        Expr::col((Alias::new(E), Alias::new("archive_id"))).into(),
                        order.clone(),
                    ),
                    (
                        Expr::col((Alias::new(E), Alias::new("path_id"))).into(),
                        order,
                    ),
                ]
            } else {
                vec![(expr, order)]
            }
        })
        .collect();
    let (count, select) = list::window(db, joined(), &plan).await?;
    let rows = select.into_model::<Row>().all(db).await?;
    Ok(list::page(
        req,
        &plan,
        count,
        rows.into_iter().map(Into::into).collect(),
    ))
}

/// The entries whose path contains `value`, ignoring case exactly as `list::icontains` does:
/// `catalog_entries.path_id IN (SELECT id FROM catalog_paths WHERE …)`, over the `candidates`
/// of the search index alone when it gave some.
///
/// SQLite's `icontains` is a GLOB with a character class for each letter (`*[Éé][tT][Éé]*`),
/// exact for every letter but slow (about 6 µs a path). SQLite's LIKE folds ASCII letters only,
/// which for a pattern made of ASCII characters is the very same match (`[aA]`), so an ASCII
/// value is a LIKE, about ten times faster. Any other value keeps the GLOB, behind necessary
/// conditions that are cheap to test: the longest ASCII run of the value as a LIKE, and one of
/// the case forms of its first other character (`instr`).
fn path_icontains(value: &str, backend: DbBackend, candidates: Option<&[i64]>) -> SimpleExpr {
    let col = || -> SimpleExpr { Expr::col((Alias::new("sp"), Alias::new("path"))).into() };
    let mut cond = Condition::all();
    if let Some(ids) = candidates {
        cond = cond.add(among(ids, backend));
    }
    if backend == DbBackend::Sqlite {
        let longest_ascii = value
            .split(|c: char| !c.is_ascii())
            .max_by_key(|run| run.len())
            .unwrap_or("");
        if !longest_ascii.is_empty() || value.is_empty() {
            cond = cond.add(col().like(
                LikeExpr::new(format!("%{}%", list::escape_like(longest_ascii))).escape('\\'),
            ));
        }
        if let Some(c) = value.chars().find(|c| !c.is_ascii()) {
            let mut forms: Vec<String> = vec![c.to_string()];
            for form in [c.to_lowercase().to_string(), c.to_uppercase().to_string()] {
                if !forms.contains(&form) {
                    forms.push(form);
                }
            }
            let mut any = Condition::any();
            for form in forms {
                any =
                    any.add(Expr::expr(Func::cust(Alias::new("instr")).arg(col()).arg(form)).gt(0));
            }
            cond = cond.add(any).add(list::icontains(col(), value, backend));
        }
    } else {
        cond = cond.add(list::icontains(col(), value, backend));
    }
    let paths = Query::select()
        .column((Alias::new("sp"), Alias::new("id")))
        .from_as(Alias::new(P), Alias::new("sp"))
        .cond_where(cond)
        .to_owned();
    Expr::col((Alias::new(E), Alias::new("path_id"))).in_subquery(paths)
}

/// `sp.id` is one of `ids`, bound as one value whatever their number: a JSON array read by
/// `json_each` on SQLite, an array literal on PostgreSQL.
fn among(ids: &[i64], backend: DbBackend) -> SimpleExpr {
    use std::fmt::Write;
    let (open, close) = if backend == DbBackend::Postgres {
        ('{', '}')
    } else {
        ('[', ']')
    };
    let mut list = String::with_capacity(ids.len() * 8 + 2);
    list.push(open);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        let _ = write!(list, "{id}");
    }
    list.push(close);
    let sql = if backend == DbBackend::Postgres {
        // sea-query numbers PostgreSQL's placeholders of a custom expression from `$1`.
        r#""sp"."id" = ANY(CAST($1 AS int8[]))"#
    } else {
        r#""sp"."id" IN (SELECT value FROM json_each(?))"#
    };
    Expr::cust_with_values(sql, [list])
}

/// The entries of the archives whose `column` contains `value` (ignoring case), as
/// `archive_id IN (ids)` with the ids looked up first: `None` when no archive matches. With the
/// entries a view over the versions, an `OR` of this and the path condition would make both
/// databases join every version to every archive (8 s over 30,000,000 entries on SQLite); the
/// common case, a value naming files and no archive, then keeps the path indexes.
async fn archive_icontains(
    db: &DatabaseConnection,
    column: &str,
    value: &str,
    backend: DbBackend,
) -> Result<Option<SimpleExpr>> {
    let archives = Query::select()
        .column((Alias::new("sa"), Alias::new("id")))
        .from_as(Alias::new(A), Alias::new("sa"))
        .and_where(list::icontains(
            Expr::col((Alias::new("sa"), Alias::new(column))).into(),
            value,
            backend,
        ))
        .to_owned();
    let ids: Vec<i32> = db
        .query_all(backend.build(&archives))
        .await?
        .iter()
        .map(|r| r.try_get_by_index::<i32>(0))
        .collect::<std::result::Result<_, _>>()?;
    if ids.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        Expr::col((Alias::new(E), Alias::new("archive_id"))).is_in(ids),
    ))
}

pub async fn get(st: &AppState, _actor: &Actor, id: i64) -> Result<CatalogEntry> {
    joined()
        .filter(crate::catalog::entry_condition(id))
        .into_model::<Row>()
        .one(&st.db)
        .await?
        .map(Into::into)
        .ok_or_else(Error::not_found)
}

/// Every version of one path (`?path=`, exact, required) across the catalogued archives,
/// optionally of one `repository`, `policy` or `client`.
pub async fn history(
    st: &AppState,
    _actor: &Actor,
    params: &[(String, String)],
) -> Result<cyborg_dto::CatalogHistory> {
    let mut path = None;
    let mut filter = crate::catalog::HistoryFilter::default();
    for (key, value) in params {
        let id = || {
            value
                .parse::<i32>()
                .map_err(|_| Error::field(key, format!("'{value}' is not an id.")))
        };
        match key.as_str() {
            "path" => path = Some(value.trim_start_matches('/').to_string()),
            "repository" => filter.repository = Some(id()?),
            "policy" => filter.policy = Some(id()?),
            "client" => filter.client = Some(id()?),
            _ => {
                return Err(Error::field(
                    key,
                    "Unknown parameter: use path, repository, policy or client.",
                ));
            }
        }
    }
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return Err(Error::field("path", "This parameter is required."));
    };
    let results = crate::catalog::history(&st.db, &path, filter)
        .await
        .map_err(Error::Internal)?;
    Ok(cyborg_dto::CatalogHistory {
        path,
        count: results.len(),
        results,
    })
}

/// The archives in the catalog, newest first, of one client or of all.
pub async fn archives(
    st: &AppState,
    _actor: &Actor,
    client: Option<i32>,
) -> Result<Vec<cyborg_dto::ArchiveRef>> {
    use sea_orm::QueryOrder;
    let mut q = archive::Entity::find()
        .order_by_desc(archive::Column::Created)
        .order_by_desc(archive::Column::Id);
    if let Some(c) = client {
        q = q.filter(archive::Column::ClientId.eq(c));
    }
    Ok(q.all(&st.db)
        .await?
        .into_iter()
        .map(|a| cyborg_dto::ArchiveRef {
            id: a.id,
            name: a.name,
            created: a.created,
            client: a.client_id,
            repository: a.repository_id,
        })
        .collect())
}

/// One page (`CATALOG_DIR_PAGE` items, after the path `after`; `""` for the first) of the items
/// directly inside `dir` (`""` for the top) of one archive, by name. A directory is an item
/// whose mode starts with `d` (borg's `ls -l` mode).
pub async fn browse(
    st: &AppState,
    _actor: &Actor,
    archive_id: i32,
    dir: &str,
    after: &str,
) -> Result<cyborg_dto::CatalogDir> {
    let archive = crate::services::find::<archive::Entity>(&st.db, archive_id).await?;
    let dir = dir.trim_end_matches('/');
    let (items, next) =
        crate::catalog::browse(&st.db, archive_id, dir, after, cyborg_dto::CATALOG_DIR_PAGE)
            .await
            .map_err(Error::Internal)?;
    // The folders above the archive's roots are not items of it; they are shown (as folders
    // without details, on the first page) so the roots can be reached from the top.
    let implied: Vec<String> = if after.is_empty() {
        implied_folders(&archive.roots, dir)
    } else {
        Vec::new()
    }
    .into_iter()
    .filter(|name| {
        !items
            .iter()
            .any(|d| d.path.rsplit('/').next() == Some(name))
    })
    .collect();
    let implied = implied.into_iter().map(|name| cyborg_dto::CatalogItem {
        id: 0,
        path: if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        },
        name,
        is_dir: true,
        mode: String::new(),
        size: 0,
        owner: String::new(),
        group: String::new(),
        mtime: None,
        healthy: true,
    });
    let mut out: Vec<cyborg_dto::CatalogItem> = items
        .into_iter()
        // borg lists the archive's root as ".": it is the listing itself, not an item of it.
        .filter(|d| d.path != ".")
        .map(|d| cyborg_dto::CatalogItem {
            id: d.id,
            name: d.path.rsplit('/').next().unwrap_or(&d.path).to_string(),
            is_dir: d.mode.starts_with('d'),
            path: d.path,
            mode: d.mode,
            size: d.size,
            owner: d.owner,
            group: d.group,
            mtime: d.mtime,
            healthy: d.healthy,
        })
        .chain(implied)
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cyborg_dto::CatalogDir { items: out, next })
}

/// The names of the folders directly inside `dir` that lead to a root of the archive without
/// being archived themselves: for the roots `srv/www` and `home/ann`, `""` gives `home` and
/// `srv`, `srv` gives `www` (which is an item: the caller drops the names it lists already).
fn implied_folders(roots: &str, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = roots
        .lines()
        .filter_map(|root| {
            let rest = if dir.is_empty() {
                root
            } else {
                root.strip_prefix(dir)?.strip_prefix('/')?
            };
            let name = rest.split('/').next()?;
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::implied_folders;

    #[test]
    fn folders_above_the_roots() {
        let roots = "srv/www\nhome/ann\nsrv/mail/a b";
        assert_eq!(implied_folders(roots, ""), ["home", "srv"]);
        assert_eq!(implied_folders(roots, "srv"), ["mail", "www"]);
        assert_eq!(implied_folders(roots, "srv/mail"), ["a b"]);
        assert!(implied_folders(roots, "sr").is_empty());
        assert!(implied_folders(roots, "srv/www").is_empty());
        assert!(implied_folders("", "").is_empty());
    }
}
