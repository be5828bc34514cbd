//! - `/alerts`: the open alerts (acknowledge one) and the recently resolved ones;
//! - `/settings`: the key clients authorize (with a copy button), the server's settings, the
//!   notification channels (superusers; send a test) and the caller's API tokens (make one,
//!   shown once; revoke).
use leptos::prelude::*;
use leptos_meta::Title;

use super::{
    CopyButton, acknowledge_alert, alerts_page_data, create_token, error_text, revoke_token,
    self_backup_run_now, settings_page_data, test_channel,
};
use crate::{
    display::minute,
    dto::{
        Alert, ApiToken, ApiTokenInput, FormOutcome, NotificationChannel, SelfBackupRun,
        SettingsView,
    },
};

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| minute(&t)).unwrap_or_else(|| "—".to_string())
}

#[component]
pub fn AlertsPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| alerts_page_data());
    let ack = Action::new(|id: &i32| acknowledge_alert(*id));
    let refused = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(r) = ack.value().get() {
            refused.set(match r {
                Ok(m) => m,
                Err(e) => Some(error_text(&e)),
            });
            data.refetch();
        }
    });
    view! {
        <Title text="Alerts — CyBorgBackup"/>
        <h1>"Alerts"</h1>
        <p class="form-error" role="alert" id="alerts-error">{move || refused.get()}</p>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! {
                        <section aria-labelledby="open-title">
                            <h2 id="open-title">"Open"</h2>
                            {alert_table("open-alerts", v.open, Some(ack))}
                        </section>
                        <section aria-labelledby="resolved-title">
                            <h2 id="resolved-title">"Recently resolved"</h2>
                            {alert_table("resolved-alerts", v.resolved, None)}
                        </section>
                    }
                    .into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }
                        .into_any(),
                }
            })}
        </Transition>
    }
}

fn alert_table(
    id: &'static str,
    alerts: Vec<Alert>,
    ack: Option<Action<i32, Result<Option<String>, super::RpcError>>>,
) -> AnyView {
    if alerts.is_empty() {
        return view! { <p class="empty" id=id>"None."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table id=id>
                <thead>
                    <tr>
                        <th scope="col">"Kind"</th>
                        <th scope="col">"What"</th>
                        <th scope="col">"Since"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Job"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {alerts
                        .into_iter()
                        .map(|a| {
                            let job = a.job.map(|j| {
                                view! { <a href=format!("/jobs/{j}")>{format!("#{j}")}</a> }
                            });
                            let button = (a.state == "open")
                                .then_some(ack)
                                .flatten()
                                .map(|ack| {
                                    let id = a.id;
                                    view! {
                                        <button
                                            type="button"
                                            class="ack"
                                            disabled=move || ack.pending().get()
                                            on:click=move |_| {
                                                ack.dispatch(id);
                                            }
                                        >
                                            "Acknowledge"
                                        </button>
                                    }
                                });
                            let state_class = if a.state == "resolved" {
                                "status status-successful"
                            } else {
                                "status status-failed"
                            };
                            view! {
                                <tr data-alert-id=a.id>
                                    <td>{a.kind}</td>
                                    <td>{a.message}</td>
                                    <td>{when(Some(a.first_seen))}</td>
                                    <td><span class=state_class>{a.state}</span></td>
                                    <td>{job}</td>
                                    <td>{button}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| settings_page_data());
    // A new token's secret, shown once: kept here, outside what the list's reload redraws.
    let created = RwSignal::new(None::<String>);
    view! {
        <Title text="Settings — CyBorgBackup"/>
        <h1>"Settings"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <SettingsBody v=v data=data created=created/> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }
                        .into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn SettingsBody(
    v: SettingsView,
    data: Resource<Result<SettingsView, super::RpcError>>,
    created: RwSignal<Option<String>>,
) -> impl IntoView {
    let s = v.settings.clone();
    let rows = [
        ("Catalog after each backup", s.catalog_enabled.to_string()),
        ("Prune after each backup", s.auto_prune.to_string()),
        ("Backup user on clients", s.backup_user.clone()),
        ("Failing after (attempts)", s.failing_after.to_string()),
        ("Job logs kept (days)", s.job_log_retention_days.to_string()),
    ];
    let channels = v
        .is_superuser
        .then(|| view! { <Channels channels=v.channels.clone()/> });
    let own_backup = v.is_superuser.then(|| {
        view! {
            <SelfBackup
                repository=v.self_backup_repository.clone()
                schedule=v.self_backup_schedule.clone()
                runs=v.self_backups.clone()
                data=data
            />
        }
    });
    view! {
        <section aria-labelledby="key-title">
            <h2 id="key-title">"The server's SSH key"</h2>
            <p>
                "Every client authorizes this line in the backup user's "
                <code>"~/.ssh/authorized_keys"</code>
                " (commands and the job's repository socket only, nothing else):"
            </p>
            <pre class="key-line" id="authorized-keys-line">{v.authorized_keys.clone()}</pre>
            <CopyButton text=v.authorized_keys.clone()/>
            <p class="muted">"Public key: " <code id="ssh-pubkey">{v.pubkey.clone()}</code></p>
        </section>
        <section aria-labelledby="settings-title">
            <h2 id="settings-title">"Server settings"</h2>
            <dl class="settings" id="settings-values">
                {rows
                    .into_iter()
                    .map(|(k, v)| view! { <div><dt>{k}</dt><dd>{v}</dd></div> })
                    .collect_view()}
            </dl>
            <p class="muted">"Superusers change them with PATCH /api/v1/settings/."</p>
        </section>
        {own_backup}
        {channels}
        <Tokens tokens=v.tokens data=data created=created/>
    }
}

/// The server's own backup: where it goes, when, the recent runs, a run now, and how a lost
/// server is restored from it.
#[component]
fn SelfBackup(
    repository: String,
    schedule: String,
    runs: Vec<SelfBackupRun>,
    data: Resource<Result<SettingsView, super::RpcError>>,
) -> impl IntoView {
    let run = Action::new(|_: &()| self_backup_run_now());
    let message = RwSignal::new(None::<String>);
    // A run, successful or failed, is the newest row of the table once refetched; only a
    // refusal (no repository, a run under way) is told here.
    Effect::new(move |_| match run.value().get() {
        Some(Ok(_)) => data.refetch(),
        Some(Err(e)) => message.set(Some(error_text(&e))),
        None => {}
    });
    let configured = !repository.is_empty();
    let rows = runs
        .into_iter()
        .map(|r| {
            view! {
                <tr data-self-backup-id=r.id data-status=r.status.clone()>
                    <td>{minute(&r.started)}</td>
                    <td>{r.status.clone()}</td>
                    <td><code>{r.archive.clone()}</code></td>
                    <td>{crate::display::bytes(r.original_size)}</td>
                    <td>{crate::display::bytes(r.deduplicated_size)}</td>
                    <td>{r.message.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section aria-labelledby="self-backup-title">
            <h2 id="self-backup-title">"The server's own backup"</h2>
            <p>
                "The database, the secret key (it decrypts every stored passphrase) and the SSH "
                "key pair, into an encrypted repository on another disk or host."
            </p>
            <dl class="settings" id="self-backup-settings">
                <div>
                    <dt>"Repository"</dt>
                    <dd>{if configured { repository } else { "not set".to_string() }}</dd>
                </div>
                <div>
                    <dt>"Schedule"</dt>
                    <dd>{if schedule.is_empty() { "by hand only".to_string() } else { schedule }}</dd>
                </div>
            </dl>
            <p class="muted">
                "Set them with PATCH /api/v1/settings/ (self_backup_repository, "
                "self_backup_schedule). Keep that repository's passphrase offline: it is what a "
                "restore needs. On a new machine: "
                <code>"BORG_PASSPHRASE=… cyborgbackup restore-server --repository LOCATION"</code>
                " into an empty data directory and database, then start the server."
            </p>
            <button
                type="button"
                id="self-backup-now"
                disabled=move || !configured || run.pending().get()
                on:click=move |_| {
                    run.dispatch(());
                }
            >
                {move || if run.pending().get() { "Backing up…" } else { "Back up the server now" }}
            </button>
            <p role="status" id="self-backup-result">{move || message.get()}</p>
            <div class="table-wrap">
                <table id="self-backups">
                    <thead>
                        <tr>
                            <th scope="col">"Started"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col">"Archive"</th>
                            <th scope="col">"Original"</th>
                            <th scope="col">"Stored"</th>
                            <th scope="col">"Message"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn Channels(channels: Vec<NotificationChannel>) -> impl IntoView {
    let test = Action::new(|id: &i32| test_channel(*id));
    let result = move || {
        test.value().get().map(|r| match r {
            Ok(t) if t.sent => "The test message was accepted.".to_string(),
            Ok(t) => format!("Not sent: {}", t.detail),
            Err(e) => error_text(&e),
        })
    };
    let rows = channels
        .into_iter()
        .map(|c| {
            let id = c.id;
            let events = if c.events.is_empty() {
                "all".to_string()
            } else {
                c.events.join(", ")
            };
            view! {
                <tr data-channel-id=id>
                    <td>{c.name}</td>
                    <td>{c.kind}</td>
                    <td>{events}</td>
                    <td>{if c.enabled { "yes" } else { "no" }}</td>
                    <td>
                        <button
                            type="button"
                            class="test-channel"
                            disabled=move || test.pending().get()
                            on:click=move |_| {
                                test.dispatch(id);
                            }
                        >
                            "Send a test"
                        </button>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section aria-labelledby="channels-title">
            <h2 id="channels-title">"Notification channels"</h2>
            <p class="muted">
                "Webhook, ntfy/Gotify, Slack/Mattermost and email channels are made with POST "
                "/api/v1/notifications/ (docs/OPERATIONS.md)."
            </p>
            <p role="status" id="channel-test-result">{result}</p>
            <div class="table-wrap">
                <table id="channels">
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Kind"</th>
                            <th scope="col">"Events"</th>
                            <th scope="col">"Enabled"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn Tokens(
    tokens: Vec<ApiToken>,
    data: Resource<Result<SettingsView, super::RpcError>>,
    created: RwSignal<Option<String>>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let scope = RwSignal::new("read".to_string());
    let expires = RwSignal::new(String::new());
    let create = Action::new(|input: &ApiTokenInput| create_token(input.clone()));
    let revoke = Action::new(|id: &i32| revoke_token(*id));
    let message = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(r) = create.value().get() {
            match r {
                Ok(FormOutcome::Saved(t)) => {
                    created.set(t.token);
                    message.set(None);
                    name.set(String::new());
                    data.refetch();
                }
                Ok(FormOutcome::Invalid(fields)) => message.set(Some(
                    fields
                        .iter()
                        .map(|(k, v)| format!("{k}: {}", v.join(" ")))
                        .collect::<Vec<_>>()
                        .join("; "),
                )),
                Err(e) => message.set(Some(error_text(&e))),
            }
        }
    });
    Effect::new(move |_| {
        if let Some(r) = revoke.value().get() {
            message.set(match r {
                Ok(m) => m,
                Err(e) => Some(error_text(&e)),
            });
            data.refetch();
        }
    });
    let rows = tokens
        .into_iter()
        .map(|t| {
            let id = t.id;
            view! {
                <tr data-token-id=id>
                    <td>{t.name}</td>
                    <td>{t.scope}</td>
                    <td>{when(Some(t.created))}</td>
                    <td>{t.expires.map(|e| minute(&e)).unwrap_or_else(|| "never".into())}</td>
                    <td>{when(t.last_used)}</td>
                    <td>
                        <button
                            type="button"
                            class="revoke"
                            on:click=move |_| {
                                revoke.dispatch(id);
                            }
                        >
                            "Revoke"
                        </button>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let e = expires.get_untracked();
        create.dispatch(ApiTokenInput {
            name: Some(name.get_untracked()),
            scope: Some(scope.get_untracked()),
            expires: (!e.is_empty()).then(|| format!("{e}T00:00:00Z")),
        });
    };
    view! {
        <section aria-labelledby="tokens-title">
            <h2 id="tokens-title">"API tokens"</h2>
            <p class="muted">
                "For scripts: "<code>"Authorization: Bearer <token>"</code>
                ". A read token may only GET."
            </p>
            {move || created.get().map(|t| view! {
                <div class="new-token" role="status">
                    <p>"Your new token, shown only now:"</p>
                    <pre id="new-token">{t.clone()}</pre>
                    <CopyButton text=t/>
                </div>
            })}
            <p class="form-error" role="alert" id="token-error">{move || message.get()}</p>
            <form id="token-form" on:submit=submit>
                <label for="token-name">"Name"</label>
                <input
                    id="token-name"
                    name="name"
                    type="text"
                    prop:value=name
                    on:input=move |ev| name.set(event_target_value(&ev))
                />
                <label for="token-scope">"Scope"</label>
                <select
                    id="token-scope"
                    name="scope"
                    on:change=move |ev| scope.set(event_target_value(&ev))
                >
                    <option value="read" selected=true>"read"</option>
                    <option value="write">"write"</option>
                </select>
                <label for="token-expires">"Expires (optional)"</label>
                <input
                    id="token-expires"
                    name="expires"
                    type="date"
                    prop:value=expires
                    on:input=move |ev| expires.set(event_target_value(&ev))
                />
                <button type="submit" disabled=move || create.pending().get()>"Create token"</button>
            </form>
            <div class="table-wrap">
                <table id="tokens">
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Scope"</th>
                            <th scope="col">"Created"</th>
                            <th scope="col">"Expires"</th>
                            <th scope="col">"Last used"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}
