//! `/schedules`: the schedules as a list that searches, sorts and pages like
//! `GET /api/v1/schedules/` (the state is in the address: `?search=…&order_by=…&page=…`), an
//! editor whose crontab shows its next runs (or the error a save would give) while it is typed,
//! and a delete that asks first and names the policies that use the schedule.
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::Form, hooks::use_query_map};

use super::{
    DeleteSchedule, LIST_PAGE_SIZE, SaveSchedule, error_text, list_schedules, percent_encode,
    preview_schedule, schedule_dependents,
};
use crate::dto::{FieldErrors, FormOutcome, Page, Schedule};

fn when(t: DateTime<Utc>) -> String {
    t.format("%a %Y-%m-%d %H:%M UTC").to_string()
}

/// `/schedules?search=…&order_by=…&page=…` with the empty parts left out.
fn list_href(search: &str, order_by: &str, page: u64) -> String {
    let mut parts = Vec::new();
    if !search.is_empty() {
        parts.push(format!("search={}", percent_encode(search, b"")));
    }
    if !order_by.is_empty() {
        parts.push(format!("order_by={}", percent_encode(order_by, b"")));
    }
    if page > 1 {
        parts.push(format!("page={page}"));
    }
    if parts.is_empty() {
        "/schedules".to_string()
    } else {
        format!("/schedules?{}", parts.join("&"))
    }
}

/// The `order_by` a column header links to: ascending first, descending when already ascending.
fn toggled(current: &str, field: &str) -> String {
    if current == field || (current.is_empty() && field == "name") {
        format!("-{field}")
    } else {
        field.to_string()
    }
}

/// The messages of one field, joined.
fn field_error(errors: &FieldErrors, field: &str) -> String {
    errors.get(field).map(|m| m.join(" ")).unwrap_or_default()
}

#[component]
pub fn SchedulesPage() -> impl IntoView {
    let query = use_query_map();
    let search = move || query.with(|q| q.get("search").unwrap_or_default());
    let order_by = move || query.with(|q| q.get("order_by").unwrap_or_default());
    let page = move || {
        query.with(|q| {
            q.get("page")
                .and_then(|p| p.parse::<u64>().ok())
                .unwrap_or(1)
        })
    };
    // Bumped after a save or a delete, to read the list again.
    let version = RwSignal::new(0u32);
    let list = Resource::new(
        move || (search(), order_by(), page(), version.get()),
        |(s, o, p, _)| list_schedules(s, o, p),
    );
    let editor = Editor::new();
    let pending_delete = RwSignal::new(None::<(i32, String)>);

    view! {
        <Title text="Schedules — CyBorgBackup"/>
        <h1>"Schedules"</h1>
        <div class="columns">
            <section aria-labelledby="list-title">
                <h2 id="list-title" class="visually-hidden">"All schedules"</h2>
                <Form method="GET" action="/schedules" attr:class="search-form" attr:role="search">
                    <label for="schedule-search">"Search"</label>
                    <input
                        id="schedule-search"
                        name="search"
                        type="search"
                        value=search
                        placeholder="name or crontab"
                    />
                    <input type="hidden" name="order_by" value=order_by/>
                    <button type="submit" class="secondary">"Search"</button>
                </Form>
                <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match list.await {
                            Ok(p) => view! {
                                <ScheduleTable
                                    page=p
                                    search=search()
                                    order_by=order_by()
                                    current=page()
                                    editor=editor
                                    pending_delete=pending_delete
                                />
                            }
                            .into_any(),
                            Err(e) => view! {
                                <p class="form-error" role="alert">{error_text(&e)}</p>
                            }
                            .into_any(),
                        }
                    })}
                </Transition>
                <DeleteConfirm pending=pending_delete version=version/>
            </section>
            <ScheduleEditor editor=editor version=version/>
        </div>
    }
    // Type-erased: the nested view types of this page otherwise exceed the compiler's query
    // depth when the server monomorphizes them.
    .into_any()
}

#[component]
fn ScheduleTable(
    page: Page<Schedule>,
    search: String,
    order_by: String,
    current: u64,
    editor: Editor,
    pending_delete: RwSignal<Option<(i32, String)>>,
) -> impl IntoView {
    let pages = page.count.div_ceil(LIST_PAGE_SIZE).max(1);
    let header = |field: &'static str, label: &'static str| {
        let sort = if order_by == field || (order_by.is_empty() && field == "name") {
            "ascending"
        } else if order_by == format!("-{field}") {
            "descending"
        } else {
            "none"
        };
        view! {
            <th scope="col" aria-sort=sort>
                <a href=list_href(&search, &toggled(&order_by, field), 1)>{label}</a>
            </th>
        }
    };
    let previous = (current > 1).then(|| list_href(&search, &order_by, current - 1));
    let next = (current < pages).then(|| list_href(&search, &order_by, current + 1));
    view! {
        <div class="table-wrap">
            <table id="schedules">
                <thead>
                    <tr>
                        {header("name", "Name")}
                        {header("crontab", "Crontab")}
                        {header("enabled", "Enabled")}
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {if page.results.is_empty() {
                        view! { <tr><td colspan="4" class="empty">"No schedules."</td></tr> }
                            .into_any()
                    } else {
                        page.results
                            .into_iter()
                            .map(|s| {
                                let edit = s.clone();
                                let (id, name) = (s.id, s.name.clone());
                                view! {
                                    <tr data-schedule-id=s.id>
                                        <td class="name">{s.name.clone()}</td>
                                        <td><code>{s.crontab.clone()}</code></td>
                                        <td>{if s.enabled { "yes" } else { "no" }}</td>
                                        <td class="actions">
                                            <button
                                                type="button"
                                                class="secondary"
                                                aria-label=format!("Edit {}", s.name)
                                                on:click=move |_| editor.load(&edit)
                                            >
                                                "Edit"
                                            </button>
                                            <button
                                                type="button"
                                                class="danger"
                                                aria-label=format!("Delete {}", s.name)
                                                on:click=move |_| {
                                                    pending_delete.set(Some((id, name.clone())))
                                                }
                                            >
                                                "Delete"
                                            </button>
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()
                            .into_any()
                    }}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Pages">
            <span id="schedules-count">
                {format!("{} schedule{}, page {current} of {pages}", page.count, if page.count == 1 { "" } else { "s" })}
            </span>
            {previous.map(|href| view! { <a href=href rel="prev">"Previous"</a> })}
            {next.map(|href| view! { <a href=href rel="next">"Next"</a> })}
        </nav>
    }
    .into_any()
}

/// The state of the create/edit form.
#[derive(Clone, Copy)]
struct Editor {
    id: RwSignal<Option<i32>>,
    name: RwSignal<String>,
    crontab: RwSignal<String>,
    enabled: RwSignal<bool>,
    errors: RwSignal<FieldErrors>,
    saved: RwSignal<String>,
}

impl Editor {
    fn new() -> Self {
        Self {
            id: RwSignal::new(None),
            name: RwSignal::new(String::new()),
            crontab: RwSignal::new(String::new()),
            enabled: RwSignal::new(true),
            errors: RwSignal::new(FieldErrors::new()),
            saved: RwSignal::new(String::new()),
        }
    }

    fn load(&self, s: &Schedule) {
        self.id.set(Some(s.id));
        self.name.set(s.name.clone());
        self.crontab.set(s.crontab.clone());
        self.enabled.set(s.enabled);
        self.errors.set(FieldErrors::new());
        self.saved.set(String::new());
    }

    fn clear(&self) {
        self.id.set(None);
        self.name.set(String::new());
        self.crontab.set(String::new());
        self.enabled.set(true);
        self.errors.set(FieldErrors::new());
    }
}

#[component]
fn ScheduleEditor(editor: Editor, version: RwSignal<u32>) -> impl IntoView {
    let save = ServerAction::<SaveSchedule>::new();
    // Each keystroke asks for a preview; the resource shows the answer to the latest text.
    let preview = Resource::new(
        move || editor.crontab.get(),
        |crontab| async move {
            if crontab.trim().is_empty() {
                Ok(None)
            } else {
                preview_schedule(crontab).await.map(Some)
            }
        },
    );
    Effect::new(move |_| {
        if let Some(result) = save.value().get() {
            match result {
                Ok(FormOutcome::Saved(s)) => {
                    editor
                        .saved
                        .set(format!("Saved the schedule “{}”.", s.name));
                    editor.clear();
                    version.update(|v| *v += 1);
                }
                Ok(FormOutcome::Invalid(fields)) => editor.errors.set(fields),
                Err(e) => {
                    let mut fields = FieldErrors::new();
                    fields.insert("form".into(), vec![error_text(&e)]);
                    editor.errors.set(fields);
                }
            }
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        editor.saved.set(String::new());
        save.dispatch(SaveSchedule {
            id: editor.id.get_untracked(),
            name: editor.name.get_untracked(),
            crontab: editor.crontab.get_untracked(),
            enabled: editor.enabled.get_untracked(),
        });
    };
    let error = move |field: &'static str| move || editor.errors.with(|e| field_error(e, field));
    let title = move || match editor.id.get() {
        Some(_) => "Edit schedule",
        None => "New schedule",
    };
    view! {
        <section aria-labelledby="editor-title" class="card editor">
            <h2 id="editor-title">{title}</h2>
            <form id="schedule-form" on:submit=submit novalidate>
                <label for="schedule-name">"Name"</label>
                <input
                    id="schedule-name"
                    name="name"
                    aria-describedby="schedule-name-error"
                    prop:value=move || editor.name.get()
                    on:input=move |ev| editor.name.set(event_target_value(&ev))
                />
                <p class="field-error" id="schedule-name-error" role="alert">{error("name")}</p>
                <label for="schedule-crontab">"Crontab"</label>
                <input
                    id="schedule-crontab"
                    name="crontab"
                    class="mono"
                    placeholder="minute hour day-of-month month day-of-week"
                    aria-describedby="schedule-crontab-error schedule-preview"
                    prop:value=move || editor.crontab.get()
                    on:input=move |ev| editor.crontab.set(event_target_value(&ev))
                />
                <p class="field-error" id="schedule-crontab-error" role="alert">
                    {error("crontab")}
                </p>
                <div id="schedule-preview" class="preview" aria-live="polite">
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            match preview.await {
                                Ok(None) => view! {
                                    <p class="muted">"Type a crontab to see its next runs."</p>
                                }
                                .into_any(),
                                Ok(Some(p)) if !p.error.is_empty() => view! {
                                    <p class="form-error preview-error">{p.error}</p>
                                }
                                .into_any(),
                                Ok(Some(p)) => view! {
                                    <p class="muted">"Next runs:"</p>
                                    <ol class="runs preview-runs">
                                        {p.runs
                                            .into_iter()
                                            .map(|t| view! {
                                                <li><time datetime=t.to_rfc3339()>{when(t)}</time></li>
                                            })
                                            .collect_view()}
                                    </ol>
                                }
                                .into_any(),
                                Err(e) => view! {
                                    <p class="form-error">{error_text(&e)}</p>
                                }
                                .into_any(),
                            }
                        })}
                    </Transition>
                </div>
                <label class="check">
                    <input
                        type="checkbox"
                        id="schedule-enabled"
                        name="enabled"
                        prop:checked=move || editor.enabled.get()
                        on:change=move |ev| editor.enabled.set(event_target_checked(&ev))
                    />
                    " Enabled"
                </label>
                <p class="form-error" id="schedule-form-error" role="alert">{error("form")}</p>
                <div class="buttons">
                    <button type="submit" id="schedule-save" disabled=move || save.pending().get()>
                        "Save"
                    </button>
                    <button type="button" class="secondary" on:click=move |_| editor.clear()>
                        "Cancel"
                    </button>
                </div>
                <p class="saved" id="schedule-saved" role="status">{move || editor.saved.get()}</p>
            </form>
        </section>
    }
    .into_any()
}

/// Asks before deleting, naming the policies that use the schedule (the server refuses to
/// delete a schedule in use, and says so).
#[component]
fn DeleteConfirm(
    pending: RwSignal<Option<(i32, String)>>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let delete = ServerAction::<DeleteSchedule>::new();
    let dependents = Resource::new(
        move || pending.get().map(|p| p.0),
        |id| async move {
            match id {
                Some(id) => schedule_dependents(id).await,
                None => Ok(Vec::new()),
            }
        },
    );
    let failure = RwSignal::new(String::new());
    Effect::new(move |_| match delete.value().get() {
        Some(Ok(None)) => {
            pending.set(None);
            failure.set(String::new());
            version.update(|v| *v += 1);
        }
        Some(Ok(Some(refused))) => failure.set(refused),
        Some(Err(e)) => failure.set(error_text(&e)),
        None => {}
    });
    view! {
        <Show when=move || pending.with(|p| p.is_some())>
            <div class="card confirm" role="alertdialog" aria-labelledby="confirm-title" id="delete-confirm">
                <h3 id="confirm-title">
                    {move || format!("Delete the schedule “{}”?", pending.with(|p| p.as_ref().map(|p| p.1.clone()).unwrap_or_default()))}
                </h3>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match dependents.await {
                            Ok(names) if names.is_empty() => view! {
                                <p id="delete-dependents">"No policy uses it."</p>
                            }
                            .into_any(),
                            Ok(names) => view! {
                                <p id="delete-dependents">
                                    {format!(
                                        "Used by the policies {}: change their schedule or delete them first.",
                                        names.join(", ")
                                    )}
                                </p>
                            }
                            .into_any(),
                            Err(e) => view! { <p class="form-error">{error_text(&e)}</p> }.into_any(),
                        }
                    })}
                </Transition>
                <p class="form-error" id="delete-error" role="alert">{move || failure.get()}</p>
                <div class="buttons">
                    <button
                        type="button"
                        class="danger"
                        id="confirm-delete"
                        disabled=move || delete.pending().get()
                        on:click=move |_| {
                            if let Some((id, _)) = pending.get_untracked() {
                                delete.dispatch(DeleteSchedule { id });
                            }
                        }
                    >
                        "Delete"
                    </button>
                    <button
                        type="button"
                        class="secondary"
                        on:click=move |_| {
                            failure.set(String::new());
                            pending.set(None)
                        }
                    >
                        "Cancel"
                    </button>
                </div>
            </div>
        </Show>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_links_keep_the_other_parts_and_encode_the_search() {
        assert_eq!(list_href("", "", 1), "/schedules");
        assert_eq!(
            list_href("a b&c", "-name", 3),
            "/schedules?search=a%20b%26c&order_by=-name&page=3"
        );
        assert_eq!(
            list_href("", "crontab", 2),
            "/schedules?order_by=crontab&page=2"
        );
    }

    #[test]
    fn headers_toggle_the_order() {
        assert_eq!(toggled("", "name"), "-name");
        assert_eq!(toggled("name", "name"), "-name");
        assert_eq!(toggled("-name", "name"), "name");
        assert_eq!(toggled("name", "crontab"), "crontab");
    }
}
