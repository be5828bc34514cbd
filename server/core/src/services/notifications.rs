//! Notification channels (`/api/v1/notifications/`): superusers only, for reading too (a
//! channel's URL is often its credential). The URL, the webhook's signing key and the SMTP
//! password are stored encrypted; the key and the password are never answered back.
use cyborg_dto::{
    AlertKind, ChannelKind, NotificationChannel, NotificationChannelInput, NotificationTest, Page,
};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

use super::{
    Actor, find,
    list::{Field, Kind, ListRequest},
    resource::{self, Resource, taken},
    stamp,
    validate::{self, Check},
};
use crate::{
    entities::notification_channel,
    error::Result,
    notify::{self, Channel, Message},
    secrets::random_token,
    state::AppState,
};

const T: &str = "notification_channels";
pub const FIELDS: &[Field] = &[
    Field::new("id", T, "id", Kind::Int),
    Field::new("name", T, "name", Kind::Text).searchable(),
    Field::new("kind", T, "kind", Kind::Text),
    Field::new("enabled", T, "enabled", Kind::Bool),
    Field::new("created", T, "created", Kind::DateTime),
    Field::new("modified", T, "modified", Kind::DateTime),
];

pub struct Channels;

impl Resource for Channels {
    type Entity = notification_channel::Entity;
    type Dto = NotificationChannel;
    const FIELDS: &'static [Field] = FIELDS;

    async fn to_dtos(
        st: &AppState,
        _: &Actor,
        rows: Vec<notification_channel::Model>,
    ) -> Result<Vec<NotificationChannel>> {
        Ok(rows.into_iter().map(|r| dto(st, r, None)).collect())
    }
}

fn events_of(c: &notification_channel::Model) -> Vec<String> {
    serde_json::from_str(&c.events).unwrap_or_default()
}

/// Whether channel `c` gets alerts of `kind` (all kinds when it names none).
pub fn wants(c: &notification_channel::Model, kind: AlertKind) -> bool {
    let events = events_of(c);
    events.is_empty() || events.iter().any(|e| e == kind.as_str())
}

fn dto(
    st: &AppState,
    c: notification_channel::Model,
    secret: Option<String>,
) -> NotificationChannel {
    NotificationChannel {
        id: c.id,
        events: events_of(&c),
        url: st.secrets.decrypt(&c.url).unwrap_or_default(),
        name: c.name,
        kind: c.kind.to_string(),
        email_from: c.email_from,
        email_to: notify::split_addresses(&c.email_to),
        username: c.username,
        has_secret: !c.secret.is_empty(),
        has_password: !c.password.is_empty(),
        enabled: c.enabled,
        created: c.created,
        modified: c.modified,
        secret,
    }
}

pub async fn list(
    st: &AppState,
    actor: &Actor,
    req: &ListRequest,
) -> Result<Page<NotificationChannel>> {
    actor.require_superuser()?;
    resource::list::<Channels>(st, actor, req).await
}

pub async fn get(st: &AppState, actor: &Actor, id: i32) -> Result<NotificationChannel> {
    actor.require_superuser()?;
    resource::get::<Channels>(st, actor, id).await
}

pub async fn create(
    st: &AppState,
    actor: &Actor,
    input: NotificationChannelInput,
) -> Result<NotificationChannel> {
    actor.require_superuser()?;
    let (mut m, generated) = checked(st, &input, None, false).await?;
    stamp(&mut m, actor, true);
    let row = m.insert(&st.db).await?;
    Ok(dto(st, row, generated))
}

pub async fn update(
    st: &AppState,
    actor: &Actor,
    id: i32,
    input: NotificationChannelInput,
    partial: bool,
) -> Result<NotificationChannel> {
    actor.require_superuser()?;
    let current = find::<notification_channel::Entity>(&st.db, id).await?;
    let (mut m, generated) = checked(st, &input, Some(&current), partial).await?;
    stamp(&mut m, actor, false);
    let row = m.update(&st.db).await?;
    Ok(dto(st, row, generated))
}

pub async fn delete(st: &AppState, actor: &Actor, id: i32) -> Result<()> {
    actor.require_superuser()?;
    find::<notification_channel::Entity>(&st.db, id).await?;
    notification_channel::Entity::delete_by_id(id)
        .exec(&st.db)
        .await?;
    Ok(())
}

/// Sends a test message now, bypassing the outbox, and says how it went.
pub async fn test(st: &AppState, actor: &Actor, id: i32) -> Result<NotificationTest> {
    actor.require_superuser()?;
    let c = find::<notification_channel::Entity>(&st.db, id).await?;
    let outcome = match Channel::open(&c, &st.secrets) {
        Ok(ch) => notify::deliver(&ch, &Message::test()).await,
        Err(e) => Err(e),
    };
    Ok(match outcome {
        Ok(()) => NotificationTest {
            sent: true,
            detail: String::new(),
        },
        Err(e) => NotificationTest {
            sent: false,
            detail: format!("{e:#}"),
        },
    })
}

/// The row a valid input makes (every field message at once otherwise), and the signing key
/// generated for a new webhook, to answer once.
async fn checked(
    st: &AppState,
    input: &NotificationChannelInput,
    current: Option<&notification_channel::Model>,
    partial: bool,
) -> Result<(notification_channel::ActiveModel, Option<String>)> {
    let mut c = Check::new();
    let base = if partial { current } else { None };
    let name = c.required("name", input.name.clone(), base.map(|b| &b.name));
    let name = name.map(|n| c.line("name", &n, 128, false));
    if let Some(n) = &name
        && !c.has("name")
        && taken::<notification_channel::Entity>(
            &st.db,
            notification_channel::Column::Name,
            n,
            notification_channel::Column::Id,
            current.map(|x| x.id),
        )
        .await?
    {
        c.error(
            "name",
            "A notification channel with this name already exists.",
        );
    }
    let current_kind = base.map(|b| b.kind.to_string());
    let kind_text = c.required("kind", input.kind.clone(), current_kind.as_ref());
    let kind = kind_text.as_deref().and_then(|k| {
        let parsed = ChannelKind::parse(k);
        if parsed.is_none() {
            c.error(
                "kind",
                format!(
                    "\"{k}\" is not a valid choice: {}.",
                    ChannelKind::NAMES.join(", ")
                ),
            );
        }
        parsed
    });
    let current_url = base.map(|b| st.secrets.decrypt(&b.url).unwrap_or_default());
    let url = c.required("url", input.url.clone(), current_url.as_ref());
    let url = url.map(|u| c.line("url", &u, 2000, false));
    if let (Some(k), Some(u)) = (kind, &url)
        && !c.has("url")
    {
        c.rule("url", notify::check_target(k, u));
    }
    let events = input.events.clone().or_else(|| base.map(events_of));
    if let Some(events) = &events {
        for e in events {
            if AlertKind::parse(e).is_none() {
                c.error(
                    "events",
                    format!("\"{e}\" is not an event: {}.", AlertKind::NAMES.join(", ")),
                );
            }
        }
    }
    let email_from = input
        .email_from
        .clone()
        .or_else(|| base.map(|b| b.email_from.clone()))
        .unwrap_or_default();
    let email_to = input
        .email_to
        .clone()
        .or_else(|| base.map(|b| notify::split_addresses(&b.email_to)))
        .unwrap_or_default();
    let username = input
        .username
        .clone()
        .or_else(|| base.map(|b| b.username.clone()))
        .unwrap_or_default();
    let username = c.line("username", &username, 256, true);
    if kind == Some(ChannelKind::Email) {
        if email_from.trim().is_empty() {
            c.error("email_from", "An email channel needs a sender address.");
        } else {
            c.rule("email_from", validate::email(email_from.trim()));
        }
        if email_to.is_empty() {
            c.error("email_to", "An email channel needs at least one address.");
        }
        for a in &email_to {
            if let Err(m) = validate::email(a.trim()) {
                c.error("email_to", format!("{a}: {m}"));
            }
        }
    }
    let secret = input.secret.as_deref().map(str::trim);
    if let Some(s) = secret
        && !s.is_empty()
        && s.len() < 16
    {
        c.error(
            "secret",
            "At least 16 characters, or leave it out to have one generated.",
        );
    }
    c.finish()?;

    let mut m = match current {
        Some(cur) => notification_channel::ActiveModel::from(cur.clone()),
        None => notification_channel::ActiveModel {
            secret: Set(String::new()),
            password: Set(String::new()),
            enabled: Set(true),
            ..Default::default()
        },
    };
    let kind = kind.expect("checked above");
    m.name = Set(name.expect("checked above"));
    m.kind = Set(kind);
    m.url = Set(st.secrets.encrypt(&url.expect("checked above")));
    m.events = Set(serde_json::to_string(&events.unwrap_or_default()).unwrap_or("[]".into()));
    m.email_from = Set(email_from.trim().to_string());
    m.email_to = Set(email_to
        .iter()
        .map(|a| a.trim())
        .collect::<Vec<_>>()
        .join(","));
    m.username = Set(username);
    if let Some(enabled) = input.enabled {
        m.enabled = Set(enabled);
    }
    match input.password.clone() {
        Some(None) => m.password = Set(String::new()),
        Some(Some(p)) if p.is_empty() => m.password = Set(String::new()),
        Some(Some(p)) => m.password = Set(st.secrets.encrypt(&p)),
        None => {}
    }
    let mut generated = None;
    match secret {
        Some(s) if !s.is_empty() => m.secret = Set(st.secrets.encrypt(s)),
        _ if kind == ChannelKind::Webhook && current.is_none_or(|cur| cur.secret.is_empty()) => {
            let s = random_token();
            m.secret = Set(st.secrets.encrypt(&s));
            generated = Some(s);
        }
        _ => {}
    }
    Ok((m, generated))
}
