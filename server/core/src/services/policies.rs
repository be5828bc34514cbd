//! Policies: what to back up, from which clients, into which repository, when, and what to keep.
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use cyborg_dto::{
    ClientRef, Page, Policy, PolicyInput, PolicySummary, PolicyType, RepositoryRef, ScheduleRef,
    VM_PROVIDERS,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait,
};
use serde_json::Value;

use super::{
    Actor, audit_parts, find,
    list::{Field, Kind, ListRequest},
    now, referenced,
    resource::{self, Resource, taken},
    stamp, user_refs,
    validate::{self, Check},
};
use crate::{
    crontab::Crontab,
    engine::{
        log::MIN_SECRET,
        retention,
        sources::{self, PASSWORD_KEY, PASSWORD_MASK},
    },
    entities::{client, policy, policy_client, repository, schedule},
    error::Result,
    state::AppState,
};

const T: &str = "policies";
pub const FIELDS: &[Field] = &[
    Field::new("id", T, "id", Kind::Int),
    Field::new("name", T, "name", Kind::Text).searchable(),
    Field::new("extra_vars", T, "extra_vars", Kind::Text),
    Field::new("repository", T, "repository_id", Kind::Int),
    Field::new("schedule", T, "schedule_id", Kind::Int),
    Field::new("policy_type", T, "policy_type", Kind::Text).searchable(),
    Field::new("keep_hourly", T, "keep_hourly", Kind::Int),
    Field::new("keep_daily", T, "keep_daily", Kind::Int),
    Field::new("keep_weekly", T, "keep_weekly", Kind::Int),
    Field::new("keep_monthly", T, "keep_monthly", Kind::Int),
    Field::new("keep_yearly", T, "keep_yearly", Kind::Int),
    Field::new("keep_within", T, "keep_within", Kind::Text),
    Field::new("keep_last", T, "keep_last", Kind::Int),
    Field::new("vmprovider", T, "vmprovider", Kind::Text),
    Field::new("next_run", T, "next_run", Kind::DateTime),
    Field::new("mode_pull", T, "mode_pull", Kind::Bool),
    Field::new("enabled", T, "enabled", Kind::Bool),
    Field::new("uuid", T, "uuid", Kind::Text),
    Field::new("created", T, "created", Kind::DateTime),
    Field::new("modified", T, "modified", Kind::DateTime),
    Field::new("created_by", T, "created_by", Kind::Int),
    Field::new("modified_by", T, "modified_by", Kind::Int),
    Field::new(
        "clients",
        T,
        "id",
        Kind::Link {
            table: "policy_clients",
            owner_col: "policy_id",
            value_col: "client_id",
        },
    ),
];

/// Largest `extra_vars` accepted, in bytes.
const MAX_EXTRA_VARS: usize = 65_536;
const MAX_CLIENTS: usize = 10_000;
const MAX_KEEP: i32 = 100_000;
/// A year: the largest `max_age_hours` and `time_limit_hours`.
const MAX_HOURS: f64 = 8760.0;

pub struct Policies;

impl Resource for Policies {
    type Entity = policy::Entity;
    type Dto = Policy;
    const FIELDS: &'static [Field] = FIELDS;

    async fn to_dtos(
        st: &AppState,
        _actor: &Actor,
        rows: Vec<policy::Model>,
    ) -> Result<Vec<Policy>> {
        let db = &st.db;
        let refs = user_refs(db, rows.iter().flat_map(|r| [r.created_by, r.modified_by])).await?;
        let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
        let repos: HashMap<i32, repository::Model> = repository::Entity::find()
            .filter(repository::Column::Id.is_in(rows.iter().map(|r| r.repository_id)))
            .all(db)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let schedules: HashMap<i32, schedule::Model> = schedule::Entity::find()
            .filter(schedule::Column::Id.is_in(rows.iter().map(|r| r.schedule_id)))
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let links = policy_client::Entity::find()
            .filter(policy_client::Column::PolicyId.is_in(ids))
            .all(db)
            .await?;
        let clients: HashMap<i32, client::Model> = client::Entity::find()
            .filter(client::Column::Id.is_in(links.iter().map(|l| l.client_id)))
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let mut by_policy: HashMap<i32, BTreeSet<i32>> = HashMap::new();
        for l in links {
            by_policy
                .entry(l.policy_id)
                .or_default()
                .insert(l.client_id);
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let parts = audit_parts(&refs, r.created, r.modified, r.created_by, r.modified_by);
                let mut related = parts.related;
                related.insert(
                    "launch".into(),
                    format!("/api/v1/policies/{}/launch/", r.id),
                );
                related.insert(
                    "calendar".into(),
                    format!("/api/v1/policies/{}/calendar/", r.id),
                );
                related.insert(
                    "retention".into(),
                    format!("/api/v1/policies/{}/retention/", r.id),
                );
                related.insert(
                    "schedule".into(),
                    format!("/api/v1/schedules/{}/", r.schedule_id),
                );
                related.insert(
                    "repository".into(),
                    format!("/api/v1/repositories/{}/", r.repository_id),
                );
                let client_ids: Vec<i32> = by_policy
                    .remove(&r.id)
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                Policy {
                    id: r.id,
                    kind: "policy".into(),
                    url: format!("/api/v1/policies/{}/", r.id),
                    related,
                    summary_fields: PolicySummary {
                        repository: repos.get(&r.repository_id).map(|x| RepositoryRef {
                            id: x.id,
                            name: x.name.clone(),
                            path: x.path.clone(),
                        }),
                        schedule: schedules.get(&r.schedule_id).map(|s| ScheduleRef {
                            id: s.id,
                            name: s.name.clone(),
                            crontab: s.crontab.clone(),
                        }),
                        clients: client_ids
                            .iter()
                            .filter_map(|id| clients.get(id))
                            .map(|c| ClientRef {
                                id: c.id,
                                hostname: c.hostname.clone(),
                                enabled: c.enabled,
                            })
                            .collect(),
                        audit: parts.summary,
                    },
                    audit: parts.audit,
                    uuid: r.uuid,
                    name: r.name,
                    extra_vars: mask_password(r.extra_vars),
                    clients: client_ids,
                    repository: r.repository_id,
                    schedule: r.schedule_id,
                    policy_type: r.policy_type.to_string(),
                    keep_hourly: r.keep_hourly,
                    keep_daily: r.keep_daily,
                    keep_weekly: r.keep_weekly,
                    keep_monthly: r.keep_monthly,
                    keep_yearly: r.keep_yearly,
                    keep_within: r.keep_within,
                    keep_last: r.keep_last,
                    vmprovider: r.vmprovider,
                    next_run: r.next_run,
                    mode_pull: r.mode_pull,
                    enabled: r.enabled,
                    max_age_hours: r.max_age_hours,
                    time_limit_hours: r.time_limit_hours,
                }
            })
            .collect())
    }
}

pub async fn list(st: &AppState, actor: &Actor, req: &ListRequest) -> Result<Page<Policy>> {
    resource::list::<Policies>(st, actor, req).await
}

pub async fn get(st: &AppState, actor: &Actor, id: i32) -> Result<Policy> {
    resource::get::<Policies>(st, actor, id).await
}

pub async fn create(st: &AppState, actor: &Actor, input: PolicyInput) -> Result<Policy> {
    actor.require_superuser()?;
    let checked = check(st, &input, None, false).await?;
    let (clients, sched) = (checked.clients.clone(), checked.schedule.clone());
    let mut m = apply(checked, &input, None);
    stamp(&mut m, actor, true);
    let t = now();
    m.next_run = Set(next_run(*m.enabled.as_ref(), &sched, t));
    let txn = st.db.begin().await?;
    let row = m.insert(&txn).await?;
    set_clients(&txn, row.id, clients.unwrap_or_default()).await?;
    txn.commit().await?;
    resource::one::<Policies>(st, actor, row).await
}

pub async fn update(
    st: &AppState,
    actor: &Actor,
    id: i32,
    input: PolicyInput,
    partial: bool,
) -> Result<Policy> {
    actor.require_superuser()?;
    let current = find::<policy::Entity>(&st.db, id).await?;
    let checked = check(st, &input, Some(&current), partial).await?;
    let (clients, sched) = (checked.clients.clone(), checked.schedule.clone());
    let mut m = apply(checked, &input, Some(&current));
    stamp(&mut m, actor, false);
    let t = now();
    // Only a change of schedule or of `enabled` moves the next run: recomputing on any edit
    // would skip a run that is due but not yet launched.
    if sched.id != current.schedule_id || *m.enabled.as_ref() != current.enabled {
        m.next_run = Set(next_run(*m.enabled.as_ref(), &sched, t));
    }
    let txn = st.db.begin().await?;
    let row = m.update(&txn).await?;
    if let Some(clients) = clients {
        set_clients(&txn, id, clients).await?;
    }
    txn.commit().await?;
    resource::one::<Policies>(st, actor, row).await
}

pub async fn delete(st: &AppState, actor: &Actor, id: i32) -> Result<()> {
    actor.require_superuser()?;
    find::<policy::Entity>(&st.db, id).await?;
    policy::Entity::delete_by_id(id).exec(&st.db).await?;
    Ok(())
}

/// The first run strictly after `after`, or none when the policy or its schedule is disabled.
pub fn next_run(
    enabled: bool,
    sched: &schedule::Model,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if !enabled || !sched.enabled {
        return None;
    }
    Crontab::parse(&sched.crontab).ok()?.next_after(after)
}

/// Recomputes `next_run` of every policy on `sched`, after the schedule changed. The crontab is
/// parsed once for all of them: parsing costs several times more than one next-run question.
pub async fn refresh_next_runs(db: &impl ConnectionTrait, sched: &schedule::Model) -> Result<()> {
    let t = now();
    let crontab = Crontab::parse(&sched.crontab).ok();
    for p in policy::Entity::find()
        .filter(policy::Column::ScheduleId.eq(sched.id))
        .all(db)
        .await?
    {
        let value = match &crontab {
            Some(c) if p.enabled && sched.enabled => c.next_after(t),
            _ => None,
        };
        if value != p.next_run {
            let mut m = policy::ActiveModel::from(p);
            m.next_run = Set(value);
            m.update(db).await?;
        }
    }
    Ok(())
}

/// Refuses (409) to delete a schedule or repository while policies use it, naming them.
pub async fn refuse_if_used(
    db: &impl ConnectionTrait,
    column: policy::Column,
    id: i32,
    what: &str,
) -> Result<()> {
    let users: Vec<String> = policy::Entity::find()
        .filter(column.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    if users.is_empty() {
        return Ok(());
    }
    Err(crate::error::Error::Conflict(format!(
        "This {what} is used by the policies {}; change or delete them first.",
        users.join(", ")
    )))
}

async fn set_clients(db: &impl ConnectionTrait, policy_id: i32, clients: Vec<i32>) -> Result<()> {
    policy_client::Entity::delete_many()
        .filter(policy_client::Column::PolicyId.eq(policy_id))
        .exec(db)
        .await?;
    if !clients.is_empty() {
        policy_client::Entity::insert_many(clients.into_iter().map(|client_id| {
            policy_client::ActiveModel {
                policy_id: Set(policy_id),
                client_id: Set(client_id),
            }
        }))
        .exec(db)
        .await?;
    }
    Ok(())
}

/// What a save may write, once checked: the values that `apply` writes (each `None` keeps the
/// stored one), the new client list (`None`: unchanged) and the policy's schedule.
struct Checked {
    name: Option<String>,
    policy_type: Option<PolicyType>,
    /// The text to store (sealed password), when `extra_vars` was sent.
    extra_vars: Option<String>,
    repository: Option<i32>,
    schedule_id: Option<i32>,
    keep_within: Option<String>,
    clients: Option<Vec<i32>>,
    schedule: schedule::Model,
}

/// Checks a create (`current` `None`) or an update against the rules and the stored rows; every
/// refusal is collected by field (400), nothing is written.
async fn check(
    st: &AppState,
    input: &PolicyInput,
    current: Option<&policy::Model>,
    partial: bool,
) -> Result<Checked> {
    let db = &st.db;
    let mut c = Check::new();
    let base = if partial { current } else { None };

    let name = c
        .required("name", input.name.clone(), base.map(|m| &m.name))
        .map(|v| c.line("name", &v, 255, false));
    if let Some(n) = &name
        && !c.has("name")
        && taken::<policy::Entity>(
            db,
            policy::Column::Name,
            n,
            policy::Column::Id,
            current.map(|m| m.id),
        )
        .await?
    {
        c.error("name", "A policy with this name already exists.");
    }

    let current_type = base.map(|m| m.policy_type.to_string());
    let policy_type = c
        .required(
            "policy_type",
            input.policy_type.clone(),
            current_type.as_ref(),
        )
        .and_then(|t| {
            let parsed = PolicyType::parse(&t);
            if parsed.is_none() {
                c.error(
                    "policy_type",
                    format!(
                        "'{t}' is not a valid choice; choose one of {}.",
                        PolicyType::ALL
                            .iter()
                            .map(|t| t.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            parsed
        });

    let vmprovider = input
        .vmprovider
        .clone()
        .or_else(|| current.map(|m| m.vmprovider.clone()));
    if let Some(v) = &vmprovider
        && !v.is_empty()
        && !VM_PROVIDERS.contains(&v.as_str())
    {
        c.error(
            "vmprovider",
            format!(
                "'{v}' is not a valid choice; choose one of {}.",
                VM_PROVIDERS.join(", ")
            ),
        );
    }

    let extra_vars = match &input.extra_vars {
        // Not sent: the stored text, or none on create, so the per-type checks still run.
        None => Some(current.map(|m| m.extra_vars.clone()).unwrap_or_default()),
        Some(v) => match extra_vars_text(v)
            .and_then(|t| seal_password(st, &t, current.map(|m| m.extra_vars.as_str())))
        {
            Ok(s) => Some(s),
            Err(m) => {
                c.error("extra_vars", m);
                None
            }
        },
    };
    if let (Some(t), Some(ev)) = (&policy_type, &extra_vars)
        && !c.has("extra_vars")
        && !c.has("policy_type")
    {
        c.rule(
            "extra_vars",
            check_extra_vars_for_type(*t, vmprovider.as_deref().unwrap_or(""), ev),
        );
    }
    if policy_type == Some(PolicyType::Vm) && vmprovider.as_deref().unwrap_or("").is_empty() {
        c.error("__all__", "A vm policy needs a vmprovider.");
    }

    let repository = c.required(
        "repository",
        input.repository,
        base.map(|m| &m.repository_id),
    );
    let mut repo = None;
    if let Some(id) = repository {
        repo = referenced::<repository::Entity>(&mut c, db, "repository", "Repository", id).await?;
    }
    let mode_pull = input
        .mode_pull
        .or(current.map(|m| m.mode_pull))
        .unwrap_or(false);
    if let Some(r) = &repo
        && mode_pull
        && let Some(why) = crate::engine::tunnel::unservable(&r.path)
    {
        c.error("mode_pull", sentence(&why));
    }
    let schedule_id = c.required("schedule", input.schedule, base.map(|m| &m.schedule_id));
    let mut sched = None;
    if let Some(id) = schedule_id {
        sched = referenced::<schedule::Entity>(&mut c, db, "schedule", "Schedule", id).await?;
    }

    let clients = input
        .clients
        .as_ref()
        .map(|ids| ids.iter().copied().collect::<BTreeSet<i32>>());
    if let Some(ids) = &clients {
        if ids.len() > MAX_CLIENTS {
            c.error(
                "clients",
                format!("At most {MAX_CLIENTS} clients per policy."),
            );
        } else {
            let found: BTreeSet<i32> = client::Entity::find()
                .filter(client::Column::Id.is_in(ids.iter().copied()))
                .all(db)
                .await?
                .into_iter()
                .map(|c| c.id)
                .collect();
            let missing: Vec<String> = ids.difference(&found).map(|i| i.to_string()).collect();
            if !missing.is_empty() {
                c.error(
                    "clients",
                    format!("Clients {} do not exist.", missing.join(", ")),
                );
            }
        }
    }

    let keeps = [
        ("keep_hourly", input.keep_hourly),
        ("keep_daily", input.keep_daily),
        ("keep_weekly", input.keep_weekly),
        ("keep_monthly", input.keep_monthly),
        ("keep_yearly", input.keep_yearly),
        ("keep_last", input.keep_last),
    ];
    for (field, value) in keeps {
        if let Some(Some(n)) = value
            && !(0..=MAX_KEEP).contains(&n)
        {
            c.error(
                field,
                format!("Ensure this value is between 0 and {MAX_KEEP}, or null."),
            );
        }
    }
    for (field, value) in [
        ("max_age_hours", input.max_age_hours),
        ("time_limit_hours", input.time_limit_hours),
    ] {
        if let Some(Some(h)) = value
            && !(h.is_finite() && h > 0.0 && h <= MAX_HOURS)
        {
            c.error(
                field,
                format!("Ensure this value is a number of hours above 0 and at most {MAX_HOURS}, or null."),
            );
        }
    }
    let keep_within = input.keep_within.clone().map(Option::unwrap_or_default);
    if let Some(w) = keep_within.as_deref().filter(|w| !w.is_empty()) {
        c.rule("keep_within", retention::parse_within(w).map(|_| ()));
    }
    c.finish()?;
    Ok(Checked {
        name,
        policy_type,
        extra_vars: extra_vars.filter(|_| input.extra_vars.is_some()),
        repository,
        schedule_id,
        keep_within,
        clients: clients.map(|s| s.into_iter().collect()),
        schedule: sched.expect("checked above"),
    })
}

/// The row a checked save writes: the current row (or a new one's defaults) with what was sent.
fn apply(c: Checked, input: &PolicyInput, current: Option<&policy::Model>) -> policy::ActiveModel {
    let mut m = match current {
        Some(cur) => policy::ActiveModel::from(cur.clone()),
        None => policy::ActiveModel {
            extra_vars: Set(String::new()),
            keep_hourly: Set(None),
            keep_daily: Set(None),
            keep_weekly: Set(None),
            keep_monthly: Set(None),
            keep_yearly: Set(None),
            keep_within: Set(String::new()),
            keep_last: Set(None),
            vmprovider: Set(String::new()),
            mode_pull: Set(false),
            enabled: Set(true),
            max_age_hours: Set(None),
            time_limit_hours: Set(None),
            ..Default::default()
        },
    };
    if let Some(v) = c.name {
        m.name = Set(v);
    }
    if let Some(v) = c.policy_type {
        m.policy_type = Set(v);
    }
    if let Some(v) = input.vmprovider.clone() {
        m.vmprovider = Set(v);
    }
    if let Some(v) = c.extra_vars {
        m.extra_vars = Set(v);
    }
    if let Some(v) = c.repository {
        m.repository_id = Set(v);
    }
    if let Some(v) = c.schedule_id {
        m.schedule_id = Set(v);
    }
    if let Some(v) = input.keep_hourly {
        m.keep_hourly = Set(v);
    }
    if let Some(v) = input.keep_daily {
        m.keep_daily = Set(v);
    }
    if let Some(v) = input.keep_weekly {
        m.keep_weekly = Set(v);
    }
    if let Some(v) = input.keep_monthly {
        m.keep_monthly = Set(v);
    }
    if let Some(v) = input.keep_yearly {
        m.keep_yearly = Set(v);
    }
    if let Some(v) = c.keep_within {
        m.keep_within = Set(v);
    }
    if let Some(v) = input.keep_last {
        m.keep_last = Set(v);
    }
    if let Some(v) = input.mode_pull {
        m.mode_pull = Set(v);
    }
    if let Some(v) = input.enabled {
        m.enabled = Set(v);
    }
    if let Some(v) = input.max_age_hours {
        m.max_age_hours = Set(v);
    }
    if let Some(v) = input.time_limit_hours {
        m.time_limit_hours = Set(v);
    }
    m
}

/// `extra_vars` is stored as the text of a JSON object (`""` for none); a client may send that
/// text or the object itself.
fn extra_vars_text(v: &Value) -> std::result::Result<String, String> {
    let text = match v {
        Value::String(s) if s.trim().is_empty() => return Ok(String::new()),
        Value::String(s) => {
            let parsed: Value =
                serde_json::from_str(s).map_err(|e| format!("Not valid JSON: {e}."))?;
            if !parsed.is_object() {
                return Err("Must be a JSON object.".into());
            }
            s.clone()
        }
        Value::Object(_) => v.to_string(),
        Value::Null => String::new(),
        _ => return Err("Must be a JSON object or a string holding one.".into()),
    };
    if text.len() > MAX_EXTRA_VARS {
        return Err(format!("Must be at most {MAX_EXTRA_VARS} bytes."));
    }
    if text.contains('\0') {
        return Err("NUL characters are not allowed.".into());
    }
    Ok(text)
}

/// What each policy type needs from `extra_vars`, checked when the policy is saved rather than
/// when the backup fails at night. The engine's own reading (`sources::for_policy`) is the rule;
/// folders must also be absolute here.
fn check_extra_vars_for_type(
    policy_type: PolicyType,
    vmprovider: &str,
    text: &str,
) -> std::result::Result<(), String> {
    let vars: Value = if text.is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(text).map_err(|e| format!("Not valid JSON: {e}."))?
    };
    if let Some(Value::Array(items)) = vars.get("folders") {
        for p in items.iter().filter_map(Value::as_str) {
            validate::absolute_path(p).map_err(|m| format!("\"folders\": {m}"))?;
        }
    }
    if policy_type == PolicyType::Vm && vmprovider.is_empty() {
        // Said once, by the rule that a vm policy needs a vmprovider.
        return Ok(());
    }
    sources::for_policy(policy_type, vmprovider, text)
        .map(|_| ())
        .map_err(|m| sentence(&m))
}

fn sentence(m: &str) -> String {
    let mut c = m.chars();
    match c.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), c.as_str()),
        None => String::new(),
    }
}

/// Longest database password accepted.
const MAX_PASSWORD: usize = 1024;

/// `extra_vars.password` is stored encrypted: a new one is encrypted here, the mask that API
/// answers show keeps the stored one, an empty one removes it.
fn seal_password(
    st: &AppState,
    text: &str,
    stored: Option<&str>,
) -> std::result::Result<String, String> {
    if text.is_empty() {
        return Ok(String::new());
    }
    let mut vars: serde_json::Map<String, Value> =
        serde_json::from_str(text).map_err(|e| format!("Not valid JSON: {e}."))?;
    let sealed = match vars.get(PASSWORD_KEY) {
        None => return Ok(text.to_string()),
        Some(Value::String(p)) if p == PASSWORD_MASK => {
            match stored.and_then(sources::stored_password) {
                Some(kept) => Some(kept),
                None => {
                    return Err(format!(
                        "\"{PASSWORD_KEY}\": no password is stored to keep; send the password."
                    ));
                }
            }
        }
        Some(Value::String(p)) if p.is_empty() => None,
        Some(Value::String(p)) => {
            if p.len() > MAX_PASSWORD || p.chars().any(char::is_control) {
                return Err(format!(
                    "\"{PASSWORD_KEY}\" must be one line of at most {MAX_PASSWORD} bytes."
                ));
            }
            if p.chars().count() < MIN_SECRET {
                return Err(format!(
                    "\"{PASSWORD_KEY}\" must have at least {MIN_SECRET} characters: a shorter one \
                     could not be kept out of job logs."
                ));
            }
            Some(st.secrets.encrypt(p))
        }
        Some(_) => return Err(format!("\"{PASSWORD_KEY}\" must be a string.")),
    };
    match sealed {
        Some(c) => vars.insert(PASSWORD_KEY.into(), Value::String(c)),
        None => vars.remove(PASSWORD_KEY),
    };
    Ok(Value::Object(vars).to_string())
}

/// The stored text with a password replaced by the mask: no API answer carries it, encrypted or
/// not, whoever asks.
fn mask_password(text: String) -> String {
    if sources::stored_password(&text).is_none() {
        return text;
    }
    match serde_json::from_str::<serde_json::Map<String, Value>>(&text) {
        Ok(mut vars) => {
            vars.insert(PASSWORD_KEY.into(), Value::String(PASSWORD_MASK.into()));
            Value::Object(vars).to_string()
        }
        Err(_) => text,
    }
}

/// How many dependent policies a delete confirmation names (the rest are counted).
pub const DEPENDENTS_SHOWN: usize = 20;

/// The names of the policies whose `field` (`schedule`, `repository`, `clients`) is `id`, for a
/// delete confirmation: the first `DEPENDENTS_SHOWN` by name, each through `label`, then
/// "and N more".
pub async fn names_using(
    st: &AppState,
    actor: &Actor,
    field: &str,
    id: i32,
    label: impl Fn(String) -> String,
) -> Result<Vec<String>> {
    let req = ListRequest::of(
        "/api/v1/policies/",
        &[
            (field, id.to_string()),
            ("order_by", "name".into()),
            ("page_size", DEPENDENTS_SHOWN.to_string()),
        ],
    );
    let page = list(st, actor, &req).await?;
    let mut names: Vec<String> = page.results.into_iter().map(|p| label(p.name)).collect();
    if page.count > names.len() as u64 {
        names.push(format!("and {} more", page.count - names.len() as u64));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_vars_accepts_object_text_or_object() {
        assert_eq!(extra_vars_text(&json!("")).unwrap(), "");
        assert_eq!(extra_vars_text(&json!("{\"a\":1}")).unwrap(), "{\"a\":1}");
        assert_eq!(extra_vars_text(&json!({"a": 1})).unwrap(), "{\"a\":1}");
        for bad in [
            json!("[1]"),
            json!("{"),
            json!(5),
            json!([1]),
            json!("\"s\""),
        ] {
            assert!(extra_vars_text(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extra_vars_per_type() {
        assert!(check_extra_vars_for_type(PolicyType::Folders, "", "").is_err());
        assert!(check_extra_vars_for_type(PolicyType::Folders, "", r#"{"folders":[]}"#).is_err());
        assert!(
            check_extra_vars_for_type(PolicyType::Folders, "", r#"{"folders":["rel"]}"#).is_err()
        );
        assert!(
            check_extra_vars_for_type(
                PolicyType::Folders,
                "",
                r#"{"folders":["/a b"],"exclude":["*.tmp"]}"#
            )
            .is_ok()
        );
        assert!(
            check_extra_vars_for_type(PolicyType::Rootfs, "", r#"{"exclude":["a\nb"]}"#).is_err()
        );
        assert!(check_extra_vars_for_type(PolicyType::Rootfs, "", "").is_ok());
        assert!(check_extra_vars_for_type(PolicyType::Piped, "", r#"{"command":"  "}"#).is_err());
        assert!(
            check_extra_vars_for_type(PolicyType::Piped, "", r#"{"command":"echo hi"}"#).is_ok()
        );
        assert!(
            check_extra_vars_for_type(PolicyType::Postgresql, "", r#"{"databases":["a=b"]}"#)
                .is_err()
        );
        assert!(
            check_extra_vars_for_type(PolicyType::Mysql, "", r#"{"databases":["shop"]}"#).is_ok()
        );
        assert!(check_extra_vars_for_type(PolicyType::Proxmox, "", r#"{"vmids":[100]}"#).is_ok());
        assert!(
            check_extra_vars_for_type(PolicyType::Proxmox, "", r#"{"vmids":["web"]}"#).is_err()
        );
        assert!(check_extra_vars_for_type(PolicyType::Vm, "", "").is_ok());
        assert!(check_extra_vars_for_type(PolicyType::Vm, "proxmox", r#"{"vmids":[100]}"#).is_ok());
        assert!(
            check_extra_vars_for_type(PolicyType::Vm, "proxmox", r#"{"vmids":["web"]}"#).is_err()
        );
    }

    #[test]
    fn masked_password() {
        assert_eq!(
            mask_password(r#"{"password":"enc:v1:x","user":"u"}"#.into()),
            r#"{"password":"$encrypted$","user":"u"}"#
        );
        assert_eq!(mask_password(r#"{"user":"u"}"#.into()), r#"{"user":"u"}"#);
        assert_eq!(mask_password(String::new()), "");
        assert_eq!(sentence("a thing"), "A thing.");
    }
}
