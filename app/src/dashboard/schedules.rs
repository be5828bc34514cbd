//! `/schedules`: the schedules as a list that searches, sorts and pages like
//! `GET /api/v1/schedules/` (the state is in the address: `?search=…&order_by=…&page=…`), an
//! editor whose crontab shows its next runs (or the error a save would give) while it is typed,
//! and a delete that asks first and names the policies that use the schedule.
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;

use super::{
    SaveSchedule,
    confirm::DeleteConfirm,
    delete_schedule, error_text, list_schedules,
    listing::{GetForm, ListQuery, Pager, field_error, list_href, sort_state, toggled},
    on_demand::{Form, FormOnDemand, form_view},
    preview_schedule, schedule_dependents,
};
use crate::{
    display::weekday_minute,
    dto::{FieldErrors, FormOutcome, Page, Schedule},
};

/// The confirmation's words for the policies that use a schedule (the server refuses to delete a
/// schedule in use, and says so).
fn describe_dependents(names: &[String]) -> String {
    if names.is_empty() {
        "No policy uses it.".to_string()
    } else {
        format!(
            "Used by the policies {}: change their schedule or delete them first.",
            names.join(", ")
        )
    }
}

fn when(t: DateTime<Utc>) -> String {
    weekday_minute(&t)
}

#[component]
pub fn SchedulesPage() -> impl IntoView {
    let q = ListQuery::from_address();
    let (search, order_by, page) = (
        move || q.search.get(),
        move || q.order_by.get(),
        move || q.page.get(),
    );
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
                <GetForm action="/schedules".to_string() class="search-form" role="search">
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
                </GetForm>
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
                <DeleteConfirm
                    noun="schedule"
                    pending=pending_delete
                    version
                    load=schedule_dependents
                    delete=delete_schedule
                    describe=describe_dependents
                />
            </section>
            <FormOnDemand
                open=editor.open
                label="New schedule"
                id="schedule-new"
                form=move || form_view(Form::Schedule(editor, version))
            />
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
    let header = |field: &'static str, label: &'static str| {
        view! {
            <th scope="col" aria-sort=sort_state(&order_by, field, "name")>
                <a href=list_href("/schedules", &search, &toggled(&order_by, field, "name"), 1)>
                    {label}
                </a>
            </th>
        }
    };
    let count = page.count;
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
        <Pager
            base="/schedules"
            count
            noun="schedule"
            plural="schedules"
            search
            order_by
            current
            id="schedules-count".to_string()
        />
    }
    .into_any()
}

/// The state of the create/edit form.
#[derive(Clone, Copy)]
pub(super) struct Editor {
    id: RwSignal<Option<i32>>,
    name: RwSignal<String>,
    crontab: RwSignal<String>,
    enabled: RwSignal<bool>,
    errors: RwSignal<FieldErrors>,
    saved: RwSignal<String>,
    /// The form is on the page (see `FormOnDemand`).
    open: RwSignal<bool>,
}

impl Editor {
    fn new() -> Self {
        Self {
            open: RwSignal::new(false),
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
        self.open.set(true);
    }

    /// Cancel: the form goes, empty, and "New schedule" takes its place.
    fn close(&self) {
        self.clear();
        self.saved.set(String::new());
        self.open.set(false);
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
pub(super) fn ScheduleEditor(editor: Editor, version: RwSignal<u32>) -> impl IntoView {
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
                    <button type="button" class="secondary" id="schedule-cancel" on:click=move |_| editor.close()>
                        "Cancel"
                    </button>
                </div>
                <p class="saved" id="schedule-saved" role="status">{move || editor.saved.get()}</p>
            </form>
        </section>
    }
    .into_any()
}
