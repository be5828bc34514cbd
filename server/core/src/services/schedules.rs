//! Schedules: named crontab strings that policies run on.
use cyborg_dto::{Page, Schedule, ScheduleInput};
use sea_orm::{ActiveModelTrait, EntityTrait, Set, TransactionTrait};

use super::{
    Actor, audit_parts, calendar, find,
    list::{Field, Kind, ListRequest},
    policies, repositories,
    resource::{self, Resource, taken},
    stamp, user_refs,
    validate::Check,
};
use crate::{
    entities::{policy, schedule},
    error::Result,
    state::AppState,
};

const T: &str = "schedules";
pub const FIELDS: &[Field] = &[
    Field::new("id", T, "id", Kind::Int),
    Field::new("name", T, "name", Kind::Text).searchable(),
    Field::new("crontab", T, "crontab", Kind::Text).searchable(),
    Field::new("enabled", T, "enabled", Kind::Bool),
    Field::new("uuid", T, "uuid", Kind::Text),
    Field::new("created", T, "created", Kind::DateTime),
    Field::new("modified", T, "modified", Kind::DateTime),
    Field::new("created_by", T, "created_by", Kind::Int),
    Field::new("modified_by", T, "modified_by", Kind::Int),
];

pub struct Schedules;

impl Resource for Schedules {
    type Entity = schedule::Entity;
    type Dto = Schedule;
    const FIELDS: &'static [Field] = FIELDS;

    async fn to_dtos(
        st: &AppState,
        _actor: &Actor,
        rows: Vec<schedule::Model>,
    ) -> Result<Vec<Schedule>> {
        let refs = user_refs(
            &st.db,
            rows.iter().flat_map(|r| [r.created_by, r.modified_by]),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let parts = audit_parts(&refs, r.created, r.modified, r.created_by, r.modified_by);
                let mut related = parts.related;
                related.insert(
                    "policies".into(),
                    format!("/api/v1/policies/?schedule={}", r.id),
                );
                Schedule {
                    id: r.id,
                    kind: "schedule".into(),
                    url: format!("/api/v1/schedules/{}/", r.id),
                    related,
                    summary_fields: parts.summary,
                    audit: parts.audit,
                    name: r.name,
                    crontab: r.crontab,
                    enabled: r.enabled,
                    uuid: r.uuid,
                }
            })
            .collect())
    }
}

pub async fn list(st: &AppState, actor: &Actor, req: &ListRequest) -> Result<Page<Schedule>> {
    resource::list::<Schedules>(st, actor, req).await
}

pub async fn get(st: &AppState, actor: &Actor, id: i32) -> Result<Schedule> {
    resource::get::<Schedules>(st, actor, id).await
}

pub async fn create(st: &AppState, actor: &Actor, input: ScheduleInput) -> Result<Schedule> {
    actor.require_superuser()?;
    let mut m = validate(st, &input, None, false).await?;
    stamp(&mut m, actor, true);
    let row = m.insert(&st.db).await?;
    resource::one::<Schedules>(st, actor, row).await
}

pub async fn update(
    st: &AppState,
    actor: &Actor,
    id: i32,
    input: ScheduleInput,
    partial: bool,
) -> Result<Schedule> {
    actor.require_superuser()?;
    let current = find::<schedule::Entity>(&st.db, id).await?;
    let mut m = validate(st, &input, Some(&current), partial).await?;
    stamp(&mut m, actor, false);
    let txn = st.db.begin().await?;
    let row = m.update(&txn).await?;
    if row.crontab != current.crontab || row.enabled != current.enabled {
        policies::refresh_next_runs(&txn, &row).await?;
        repositories::refresh_integrity_runs(&txn, &row).await?;
    }
    txn.commit().await?;
    resource::one::<Schedules>(st, actor, row).await
}

pub async fn delete(st: &AppState, actor: &Actor, id: i32) -> Result<()> {
    actor.require_superuser()?;
    find::<schedule::Entity>(&st.db, id).await?;
    policies::refuse_if_used(&st.db, policy::Column::ScheduleId, id, "schedule").await?;
    repositories::refuse_if_integrity_schedule(&st.db, id).await?;
    schedule::Entity::delete_by_id(id).exec(&st.db).await?;
    Ok(())
}

async fn validate(
    st: &AppState,
    input: &ScheduleInput,
    current: Option<&schedule::Model>,
    partial: bool,
) -> Result<schedule::ActiveModel> {
    let mut c = Check::new();
    let base = if partial { current } else { None };
    let name = c
        .required("name", input.name.clone(), base.map(|m| &m.name))
        .map(|v| c.line("name", &v, 255, false));
    if let Some(n) = &name
        && !c.has("name")
        && taken::<schedule::Entity>(
            &st.db,
            schedule::Column::Name,
            n,
            schedule::Column::Id,
            current.map(|m| m.id),
        )
        .await?
    {
        c.error("name", "A schedule with this name already exists.");
    }
    let crontab = c
        .required("crontab", input.crontab.clone(), base.map(|m| &m.crontab))
        .map(|v| c.line("crontab", &v, 255, false));
    if let Some(expr) = &crontab
        && !c.has("crontab")
    {
        c.rule("crontab", calendar::check_crontab(expr).map(|_| ()));
    }
    c.finish()?;

    let mut m = match current {
        Some(cur) => schedule::ActiveModel::from(cur.clone()),
        None => schedule::ActiveModel {
            enabled: Set(true),
            ..Default::default()
        },
    };
    if let Some(v) = name {
        m.name = Set(v);
    }
    if let Some(v) = crontab {
        m.crontab = Set(v);
    }
    if let Some(v) = input.enabled {
        m.enabled = Set(v);
    }
    Ok(m)
}
