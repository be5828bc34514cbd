//! The resource pages' server-side calls (clients, repositories, policies, users), used by the
//! server functions in `rpc`: service objects become table rows and form values become the
//! services' input objects through `crate::resources`; every read and write is the REST API's
//! own service call, so no rule is written here.
use std::collections::BTreeMap;

use cyborg_core::{
    error::{Error, Result},
    services::{Actor, clients, jobs, list::ListRequest, policies, repositories, schedules, users},
    state::AppState,
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    display::bytes,
    dto::{
        Client, ClientInput, Page, Policy, PolicyInput, Repository, RepositoryInput, User,
        UserInput,
    },
    resources::{Choice, Choices, ResourceKind, ResourceRow, input_of, row_of, text_of},
};

/// How many objects a picker offers, in name order (a fleet with more clients than this needs a
/// searching picker; see docs/DASHBOARD.md).
const PICKABLE: u64 = 1000;

/// A table row's cells, one per column of the resource (`ResourceKind::columns`), read from the
/// typed object: a renamed or retyped field fails to compile here.
trait Cells {
    fn cells(&self) -> Vec<String>;
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// A value as the API writes it (times in RFC 3339), `""` for none.
fn text<T: Serialize>(v: &T) -> String {
    text_of(&serde_json::to_value(v).unwrap_or_default())
}

fn names<'a>(items: impl Iterator<Item = &'a String>) -> String {
    items.map(String::as_str).collect::<Vec<_>>().join(", ")
}

impl Cells for Client {
    fn cells(&self) -> Vec<String> {
        vec![
            self.hostname.clone(),
            self.username.clone(),
            self.port.to_string(),
            self.version.clone(),
            yes_no(self.ready),
            yes_no(self.enabled),
            self.host_key.host_key_status.clone(),
            names(self.summary_fields.policies.iter().map(|p| &p.name)),
        ]
    }
}

impl Cells for Repository {
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.path.clone(),
            bytes(self.original_size),
            bytes(self.deduplicated_size),
            yes_no(self.ready),
            yes_no(self.enabled),
            self.last_integrity
                .as_ref()
                .map(|i| i.status.clone())
                .unwrap_or_default(),
            text(&self.integrity_next_run),
            self.host_key.host_key_status.clone(),
        ]
    }
}

impl Cells for Policy {
    fn cells(&self) -> Vec<String> {
        let summary = &self.summary_fields;
        vec![
            self.name.clone(),
            self.policy_type.clone(),
            names(summary.clients.iter().map(|c| &c.hostname)),
            summary
                .repository
                .as_ref()
                .map(|r| r.name.clone())
                .unwrap_or_default(),
            summary
                .schedule
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            text(&self.next_run),
            yes_no(self.enabled),
        ]
    }
}

impl Cells for User {
    fn cells(&self) -> Vec<String> {
        vec![
            self.email.clone(),
            self.first_name.clone(),
            self.last_name.clone(),
            yes_no(self.is_superuser),
        ]
    }
}

fn rows<T: Serialize + Cells>(kind: ResourceKind, page: Page<T>) -> Result<Page<ResourceRow>> {
    let results = page
        .results
        .iter()
        .map(|o| Ok(row_of(kind, &serde_json::to_value(o)?, o.cells())))
        .collect::<std::result::Result<Vec<_>, serde_json::Error>>()
        .map_err(|e| anyhow::anyhow!("serializing a {}: {e}", kind.noun()))?;
    Ok(Page {
        count: page.count,
        next: page.next,
        previous: page.previous,
        results,
    })
}

fn row<T: Serialize + Cells>(kind: ResourceKind, obj: &T) -> Result<ResourceRow> {
    let v = serde_json::to_value(obj)
        .map_err(|e| anyhow::anyhow!("serializing a {}: {e}", kind.noun()))?;
    Ok(row_of(kind, &v, obj.cells()))
}

/// The API input type of a form's values (built by `input_of`, so it always has the right shape).
fn typed<T: DeserializeOwned>(v: serde_json::Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::BadRequest(format!("The form is malformed: {e}")))
}

pub async fn list(
    st: &AppState,
    actor: &Actor,
    kind: ResourceKind,
    req: ListRequest,
) -> Result<Page<ResourceRow>> {
    match kind {
        ResourceKind::Clients => rows(kind, clients::list(st, actor, &req).await?),
        ResourceKind::Repositories => rows(kind, repositories::list(st, actor, &req).await?),
        ResourceKind::Policies => rows(kind, policies::list(st, actor, &req).await?),
        ResourceKind::Users => rows(kind, users::list(st, actor, &req).await?),
    }
}

/// Creates (`id` `None`) or updates an object. An update is partial, so a secret left empty keeps
/// the stored one; every other field of the form is sent.
pub async fn save(
    st: &AppState,
    actor: &Actor,
    kind: ResourceKind,
    id: Option<i32>,
    values: &BTreeMap<String, String>,
) -> Result<ResourceRow> {
    let input = input_of(kind, values).map_err(Error::Validation)?;
    match kind {
        ResourceKind::Clients => {
            let i: ClientInput = typed(input)?;
            let saved = match id {
                None => clients::create(st, actor, i).await?,
                Some(id) => clients::update(st, actor, id, i, true).await?,
            };
            row(kind, &saved)
        }
        ResourceKind::Repositories => {
            let i: RepositoryInput = typed(input)?;
            let saved = match id {
                None => repositories::create(st, actor, i).await?,
                Some(id) => repositories::update(st, actor, id, i, true).await?,
            };
            row(kind, &saved)
        }
        ResourceKind::Policies => {
            let i: PolicyInput = typed(input)?;
            let saved = match id {
                None => policies::create(st, actor, i).await?,
                Some(id) => policies::update(st, actor, id, i, true).await?,
            };
            row(kind, &saved)
        }
        ResourceKind::Users => {
            let i: UserInput = typed(input)?;
            let saved = match id {
                None => users::create(st, actor, i).await?,
                Some(id) => users::update(st, actor, id, i, true).await?,
            };
            row(kind, &saved)
        }
    }
}

pub async fn delete(st: &AppState, actor: &Actor, kind: ResourceKind, id: i32) -> Result<()> {
    match kind {
        ResourceKind::Clients => clients::delete(st, actor, id).await,
        ResourceKind::Repositories => repositories::delete(st, actor, id).await,
        ResourceKind::Policies => policies::delete(st, actor, id).await,
        ResourceKind::Users => users::delete(st, actor, id).await,
    }
}

/// What a delete would touch, named for the confirmation: the policies of a client or a
/// repository, the number of jobs of a policy; nothing for a user.
pub async fn dependents(
    st: &AppState,
    actor: &Actor,
    kind: ResourceKind,
    id: i32,
) -> Result<Vec<String>> {
    let field = match kind {
        ResourceKind::Clients => "clients",
        ResourceKind::Repositories => "repository",
        ResourceKind::Policies => {
            let req = ListRequest::of(
                "/api/v1/jobs/",
                &[("policy", id.to_string()), ("page_size", "1".into())],
            );
            let n = jobs::list(st, actor, &req).await?.count;
            return Ok(if n == 0 {
                Vec::new()
            } else {
                vec![format!("{n} job{}", if n == 1 { "" } else { "s" })]
            });
        }
        ResourceKind::Users => return Ok(Vec::new()),
    };
    policies::names_using(st, actor, field, id, |name| format!("policy {name}")).await
}

/// The policies (`policy`) and clients (`client`) by name, for the jobs list's filters.
pub async fn job_filters(st: &AppState, actor: &Actor) -> Result<Choices> {
    let mut out = Choices::new();
    let ps = policies::list(st, actor, &pickable_query("/api/v1/policies/", "name")).await?;
    out.insert(
        "policy".into(),
        pickable(ps.results.into_iter().map(|p| (p.id, p.name))),
    );
    out.insert("client".into(), client_choices(st, actor).await?);
    Ok(out)
}

/// The repositories by name, for the archives list's filter.
pub async fn archive_filters(st: &AppState, actor: &Actor) -> Result<Choices> {
    let repos =
        repositories::list(st, actor, &pickable_query("/api/v1/repositories/", "name")).await?;
    let mut out = Choices::new();
    out.insert(
        "repository".into(),
        pickable(repos.results.into_iter().map(|r| (r.id, r.name))),
    );
    Ok(out)
}

/// The objects a form picks from, by field: a policy picks clients, a repository and a schedule.
pub async fn choices(st: &AppState, actor: &Actor, kind: ResourceKind) -> Result<Choices> {
    let mut out = Choices::new();
    let scheds = || async {
        let page =
            schedules::list(st, actor, &pickable_query("/api/v1/schedules/", "name")).await?;
        Ok::<_, Error>(pickable(
            page.results
                .into_iter()
                .map(|s| (s.id, format!("{} ({})", s.name, s.crontab))),
        ))
    };
    match kind {
        ResourceKind::Policies => {}
        ResourceKind::Repositories => {
            out.insert("integrity_schedule".into(), scheds().await?);
            return Ok(out);
        }
        _ => return Ok(out),
    }
    out.insert("clients".into(), client_choices(st, actor).await?);
    let repos =
        repositories::list(st, actor, &pickable_query("/api/v1/repositories/", "name")).await?;
    out.insert(
        "repository".into(),
        pickable(repos.results.into_iter().map(|r| (r.id, r.name))),
    );
    out.insert("schedule".into(), scheds().await?);
    Ok(out)
}

/// The list request of the first `PICKABLE` objects of `path` in `order`.
fn pickable_query(path: &str, order: &str) -> ListRequest {
    ListRequest::of(
        path,
        &[
            ("order_by", order.to_string()),
            ("page_size", PICKABLE.to_string()),
        ],
    )
}

/// The clients by hostname, as a picker or a filter offers them.
async fn client_choices(st: &AppState, actor: &Actor) -> Result<Vec<Choice>> {
    let cs = clients::list(st, actor, &pickable_query("/api/v1/clients/", "hostname")).await?;
    Ok(pickable(cs.results.into_iter().map(|c| (c.id, c.hostname))))
}

fn pickable(items: impl Iterator<Item = (i32, String)>) -> Vec<Choice> {
    items.map(|(id, label)| Choice { id, label }).collect()
}
