//! `/clients`, `/repositories`, `/policies`, `/users`: one page drawn from the resource's
//! description in `crate::resources`: a list that searches, sorts and pages like the REST API
//! (the state is in the address), one form for new and edit with the service's messages under
//! their fields, pickers by name for a policy's clients, repository and schedule, and a delete
//! that asks first and names what depends on the object.
use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

use super::{
    JobOutcome, SaveResource, check_integrity,
    confirm::DeleteConfirm,
    delete_resource, error_text, launch_now, list_resource,
    listing::{GetForm, ListQuery, Pager, field_error, list_href, sort_state, toggled},
    module_items,
    on_demand::{Form, FormOnDemand, form_view},
    resource_choices, resource_dependents,
};
use crate::{
    dto::{FieldErrors, FormOutcome, ModuleItem, Page},
    resources::{
        Choices, FormField, Input, ResourceKind, ResourceRow, connection_params, listed,
        module_for, policy_type_help, with_listed,
    },
};

#[component]
pub fn ResourcePage(kind: ResourceKind) -> impl IntoView {
    let q = ListQuery::from_address();
    // Bumped after a save or a delete, to read the list again.
    let version = RwSignal::new(0u32);
    let list = Resource::new(
        move || {
            (
                q.search.get(),
                q.order_by.get(),
                q.page.get(),
                version.get(),
            )
        },
        move |(s, o, p, _)| list_resource(kind, s, o, p),
    );
    let editor = Editor::new(kind);
    let pending_delete = RwSignal::new(None::<(i32, String)>);
    let launch_message = RwSignal::new(String::new());
    let base = kind.page_path();
    view! {
        <Title text=format!("{} — CyBorgBackup", kind.title())/>
        <h1>{kind.title()}</h1>
        <div class="columns">
            <section aria-labelledby="list-title">
                <h2 id="list-title" class="visually-hidden">{format!("All {}", kind.slug())}</h2>
                <GetForm action=base.to_string() class="search-form" role="search">
                    <label for="resource-search">"Search"</label>
                    <input
                        id="resource-search"
                        name="search"
                        type="search"
                        value=move || q.search.get()
                        placeholder=kind.search_hint()
                    />
                    <input type="hidden" name="order_by" value=move || q.order_by.get()/>
                    <button type="submit" class="secondary">"Search"</button>
                </GetForm>
                <p class="form-error" id="launch-message" role="alert">
                    {move || launch_message.get()}
                </p>
                <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match list.await {
                            Ok(p) => view! {
                                <ResourceTable
                                    kind
                                    page=p
                                    search=q.search.get_untracked()
                                    order_by=q.order_by.get_untracked()
                                    current=q.page.get_untracked()
                                    editor
                                    pending_delete
                                    launch_message
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
                    noun=kind.noun()
                    pending=pending_delete
                    version
                    load=move |id| resource_dependents(kind, id)
                    delete=move |id| delete_resource(kind, id)
                    describe=move |names: &[String]| kind.describe_dependents(names)
                />
            </section>
            <FormOnDemand
                open=editor.open
                label=format!("New {}", kind.noun())
                id="resource-new"
                form=move || form_view(Form::Resource(kind, editor, version))
            />
        </div>
    }
    // Type-erased: see the schedules page (the compiler's query depth).
    .into_any()
}

#[component]
fn ResourceTable(
    kind: ResourceKind,
    page: Page<ResourceRow>,
    search: String,
    order_by: String,
    current: u64,
    editor: Editor,
    pending_delete: RwSignal<Option<(i32, String)>>,
    launch_message: RwSignal<String>,
) -> impl IntoView {
    let base = kind.page_path();
    // Policies launch from their row and show the first job it made.
    // Repositories start an integrity check from theirs; both show the job.
    let launch = Action::new(move |id: &i32| {
        let id = *id;
        async move {
            if kind == ResourceKind::Repositories {
                check_integrity(id).await
            } else {
                launch_now(id).await
            }
        }
    });
    let navigate = use_navigate();
    Effect::new(move |_| match launch.value().get() {
        Some(Ok(JobOutcome::Show(job))) => navigate(&format!("/jobs/{job}"), Default::default()),
        Some(Ok(JobOutcome::Refused(m))) => launch_message.set(m),
        Some(Err(e)) => launch_message.set(error_text(&e)),
        None => {}
    });
    let default = kind.label_field();
    let headers = kind
        .columns()
        .iter()
        .map(|c| {
            if c.order_by.is_empty() {
                view! { <th scope="col">{c.label}</th> }.into_any()
            } else {
                let href = list_href(base, &search, &toggled(&order_by, c.order_by, default), 1);
                view! {
                    <th scope="col" aria-sort=sort_state(&order_by, c.order_by, default)>
                        <a href=href>{c.label}</a>
                    </th>
                }
                .into_any()
            }
        })
        .collect_view();
    let width = kind.columns().len() + 1;
    let count = page.count;
    let rows = if page.results.is_empty() {
        view! {
            <tr>
                <td colspan=width class="empty">{format!("No {}.", kind.slug())}</td>
            </tr>
        }
        .into_any()
    } else {
        page.results
            .into_iter()
            .map(|r| {
                let (id, label) = (r.id, r.label.clone());
                let edit_label = format!("Edit {}", r.label);
                let delete_label = format!("Delete {}", r.label);
                let launch_label = format!("Launch {} now", r.label);
                let label_for_calendar = r.label.clone();
                let check_label = format!("Check the integrity of {}", r.label);
                let checker = (kind == ResourceKind::Repositories).then(|| {
                    view! {
                        <button
                            type="button"
                            class="check-integrity"
                            aria-label=check_label
                            disabled=move || launch.pending().get()
                            on:click=move |_| {
                                launch.dispatch(id);
                            }
                        >
                            "Check integrity"
                        </button>
                    }
                });
                let launcher = (kind == ResourceKind::Policies).then(|| {
                    view! {
                        <button
                            type="button"
                            aria-label=launch_label
                            disabled=move || launch.pending().get()
                            on:click=move |_| {
                                launch.dispatch(id);
                            }
                        >
                            "Launch now"
                        </button>
                        <a
                            href=format!("/calendar?policy={id}")
                            aria-label=format!("Calendar of {label_for_calendar}")
                        >
                            "Calendar"
                        </a>
                        <a
                            href=format!("/retention?policy={id}")
                            aria-label=format!("Retention of {label_for_calendar}")
                        >
                            "Retention"
                        </a>
                    }
                });
                // Clients, and repositories on another host, are reached over SSH.
                let over_ssh = kind == ResourceKind::Clients
                    || (kind == ResourceKind::Repositories
                        && r.values.get("path").is_some_and(|p| !p.starts_with('/')));
                let host_key = over_ssh.then(|| {
                    view! {
                        <a
                            href=format!("/host-key?{}={id}", kind.noun())
                            aria-label=format!("Host key of {}", r.label)
                        >
                            "Host key"
                        </a>
                    }
                });
                // A repository's archives and its key (with its lock).
                let repository_links = (kind == ResourceKind::Repositories).then(|| {
                    view! {
                        <a
                            href=format!("/archives?repository={id}")
                            aria-label=format!("Archives of {}", r.label)
                        >
                            "Archives"
                        </a>
                        <a
                            href=format!("/repository-key?repository={id}")
                            aria-label=format!("Key and lock of {}", r.label)
                        >
                            "Key"
                        </a>
                    }
                });
                let cells = r
                    .cells
                    .iter()
                    .map(|c| view! { <td>{c.clone()}</td> })
                    .collect_view();
                view! {
                    <tr data-id=id>
                        {cells}
                        <td class="actions">
                            {launcher}
                            {checker}
                            {repository_links}
                            {host_key}
                            <button
                                type="button"
                                class="secondary"
                                aria-label=edit_label
                                on:click=move |_| editor.load(&r)
                            >
                                "Edit"
                            </button>
                            <button
                                type="button"
                                class="danger"
                                aria-label=delete_label
                                on:click=move |_| pending_delete.set(Some((id, label.clone())))
                            >
                                "Delete"
                            </button>
                        </td>
                    </tr>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <div class="table-wrap">
            <table id="resource-table">
                <thead>
                    <tr>
                        {headers}
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <Pager
            base
            count
            noun=kind.noun()
            plural=kind.slug()
            search
            order_by
            current
            id="resource-count".to_string()
        />
    }
    .into_any()
}

/// The state of the create/edit form: its values by field name, as text.
#[derive(Clone, Copy)]
pub(super) struct Editor {
    kind: ResourceKind,
    id: RwSignal<Option<i32>>,
    values: RwSignal<BTreeMap<String, String>>,
    errors: RwSignal<FieldErrors>,
    saved: RwSignal<String>,
    /// The form is on the page (see `FormOnDemand`).
    open: RwSignal<bool>,
}

impl Editor {
    fn new(kind: ResourceKind) -> Self {
        Self {
            kind,
            open: RwSignal::new(false),
            id: RwSignal::new(None),
            values: RwSignal::new(kind.defaults()),
            errors: RwSignal::new(FieldErrors::new()),
            saved: RwSignal::new(String::new()),
        }
    }

    fn load(&self, r: &ResourceRow) {
        self.id.set(Some(r.id));
        self.values.set(r.values.clone());
        self.errors.set(FieldErrors::new());
        self.saved.set(String::new());
        self.open.set(true);
    }

    fn clear(&self) {
        self.id.set(None);
        self.values.set(self.kind.defaults());
        self.errors.set(FieldErrors::new());
    }

    /// Cancel: the form goes, empty, and "New ..." takes its place.
    fn close(&self) {
        self.clear();
        self.saved.set(String::new());
        self.open.set(false);
    }

    fn get(&self, field: &str) -> String {
        self.values
            .with(|v| v.get(field).cloned().unwrap_or_default())
    }

    fn set(&self, field: &str, value: String) {
        self.values.update(|v| {
            v.insert(field.to_string(), value);
        });
    }
}

/// The ids of a `PickMany` value (`"1,2"`).
fn picked(value: &str) -> Vec<i32> {
    value
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// `value` with `id` added or taken out.
fn toggle_pick(value: &str, id: i32, on: bool) -> String {
    let mut ids = picked(value);
    ids.retain(|i| *i != id);
    if on {
        ids.push(id);
        ids.sort_unstable();
    }
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

#[component]
pub(super) fn ResourceEditor(
    kind: ResourceKind,
    editor: Editor,
    version: RwSignal<u32>,
) -> impl IntoView {
    let save = ServerAction::<SaveResource>::new();
    // The objects a form picks (a policy its clients, repository and schedule; a repository its
    // integrity schedule); other resources get an empty map.
    let choices = Resource::new(|| (), move |_| resource_choices(kind));
    Effect::new(move |_| {
        if let Some(result) = save.value().get() {
            match result {
                Ok(FormOutcome::Saved(r)) => {
                    editor
                        .saved
                        .set(format!("Saved the {} “{}”.", kind.noun(), r.label));
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
        save.dispatch(SaveResource {
            kind,
            id: editor.id.get_untracked(),
            values: editor.values.get_untracked(),
        });
    };
    let title = move || match editor.id.get() {
        Some(_) => format!("Edit {}", kind.noun()),
        None => format!("New {}", kind.noun()),
    };
    let form_error = move || editor.errors.with(|e| field_error(e, "form"));
    let all_error = move || editor.errors.with(|e| field_error(e, "__all__"));
    view! {
        <section aria-labelledby="editor-title" class="card editor">
            <h2 id="editor-title">{title}</h2>
            <form id="resource-form" on:submit=submit novalidate>
                <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let choices = choices.await.unwrap_or_default();
                        kind.fields()
                            .iter()
                            .map(|f| view! { <FieldInput field=*f editor choices=choices.clone()/> })
                            .collect_view()
                            .into_any()
                    })}
                </Transition>
                {(kind == ResourceKind::Policies).then(|| view! { <ModuleLookup editor/> })}
                <p class="form-error" id="resource-form-error" role="alert">
                    {form_error}
                    " "
                    {all_error}
                </p>
                <div class="buttons">
                    <button type="submit" id="resource-save" disabled=move || save.pending().get()>
                        "Save"
                    </button>
                    <button type="button" class="secondary" id="resource-cancel" on:click=move |_| editor.close()>
                        "Cancel"
                    </button>
                </div>
                <p class="saved" id="resource-saved" role="status">{move || editor.saved.get()}</p>
            </form>
        </section>
    }
    .into_any()
}

/// For a database or VM policy: what the module query finds on the first picked client (a
/// saved policy's own connection and stored password, else the connection typed in extra_vars),
/// as checkboxes that write the picked names or ids into extra_vars.
#[component]
fn ModuleLookup(editor: Editor) -> impl IntoView {
    // A memo: the editor's values change with every keystroke, the module only with the type.
    let module =
        Memo::new(move |_| module_for(&editor.get("policy_type"), &editor.get("vmprovider")));
    let found = RwSignal::new(None::<Result<Vec<ModuleItem>, String>>);
    let lookup = Action::new(
        move |(m, client, params): &(String, i32, Vec<(String, String)>)| {
            let (m, client, params) = (m.clone(), *client, params.clone());
            async move {
                module_items(m, client, params)
                    .await
                    .unwrap_or_else(|e| Err(error_text(&e)))
            }
        },
    );
    Effect::new(move |_| {
        if let Some(r) = lookup.value().get() {
            found.set(Some(r));
        }
    });
    // Another type or provider lists other things.
    Effect::new(move |_| {
        module.track();
        found.set(None);
    });
    let ask = move |_| {
        let Some((m, _)) = module.get_untracked() else {
            return;
        };
        let Some(client) = picked(&editor.get("clients")).first().copied() else {
            found.set(Some(Err(
                "Pick a client first: the list is read on it.".into()
            )));
            return;
        };
        let params = match editor.id.get_untracked() {
            Some(id) => vec![("policy".to_string(), id.to_string())],
            None => connection_params(&editor.get("extra_vars")),
        };
        lookup.dispatch((m.to_string(), client, params));
    };
    move || {
        module.get().map(|(m, key)| {
            let what = if key == "vmids" {
                "guests"
            } else {
                "databases"
            };
            view! {
                <div class="module-lookup" id="module-lookup">
                    <button
                        type="button"
                        class="secondary"
                        id="module-lookup-button"
                        on:click=ask
                        disabled=move || lookup.pending().get()
                    >
                        {format!("List the {what} on the first picked client ({m})")}
                    </button>
                    <p class="field-error" id="module-lookup-error" role="alert">
                        {move || match found.get() {
                            Some(Err(e)) => e,
                            _ => String::new(),
                        }}
                    </p>
                    <ul class="module-items" id="module-items">
                        {move || match found.get() {
                            Some(Ok(items)) if items.is_empty() => {
                                view! { <li>{format!("No {what} found.")}</li> }.into_any()
                            }
                            Some(Ok(items)) => items
                                .into_iter()
                                .map(|item| view! { <ModuleItemPick item key editor/> })
                                .collect_view()
                                .into_any(),
                            _ => ().into_any(),
                        }}
                    </ul>
                </div>
            }
        })
    }
}

/// One found database or guest: ticked when extra_vars lists it; ticking edits that list.
#[component]
fn ModuleItemPick(item: ModuleItem, key: &'static str, editor: Editor) -> impl IntoView {
    let id = item.id.clone();
    let on = {
        let id = id.clone();
        move || listed(&editor.get("extra_vars"), key).contains(&id)
    };
    let label = match (item.name.is_empty(), item.detail.is_empty()) {
        (true, _) => item.id.clone(),
        (false, true) if item.name == item.id => item.name.clone(),
        (false, true) => format!("{} {}", item.id, item.name),
        (false, false) => format!("{} {} ({})", item.id, item.name, item.detail),
    };
    view! {
        <li>
            <label class="check">
                <input
                    type="checkbox"
                    prop:checked=on
                    on:change=move |ev| {
                        match with_listed(
                            &editor.get("extra_vars"),
                            key,
                            &id,
                            event_target_checked(&ev),
                        ) {
                            Ok(v) => editor.set("extra_vars", v),
                            Err(m) => {
                                editor
                                    .errors
                                    .update(|e| {
                                        e.insert("extra_vars".into(), vec![m]);
                                    })
                            }
                        }
                    }
                />
                " "
                {label}
            </label>
        </li>
    }
}

/// One labelled input, its help and its messages.
#[component]
fn FieldInput(field: FormField, editor: Editor, choices: Choices) -> impl IntoView {
    let name = field.name;
    let id = format!("field-{name}");
    let error_id = format!("field-{name}-error");
    let help_id = format!("field-{name}-help");
    let described = format!("{error_id} {help_id}");
    let value = move || editor.get(name);
    let set = move |v: String| editor.set(name, v);
    let options = choices.get(name).cloned().unwrap_or_default();
    let control = match field.input {
        Input::Text
        | Input::OptText
        | Input::Number
        | Input::OptNumber
        | Input::OptDecimal
        | Input::Secret => {
            let numeric = matches!(field.input, Input::Number | Input::OptNumber);
            let decimal = field.input == Input::OptDecimal;
            let secret = field.input == Input::Secret;
            view! {
                <label for=id.clone()>{field.label}</label>
                <input
                    id=id
                    name=name
                    type=if secret { "password" } else { "text" }
                    autocomplete=if secret { "new-password" } else { "off" }
                    inputmode=if numeric {
                        "numeric"
                    } else if decimal {
                        "decimal"
                    } else {
                        "text"
                    }
                    placeholder=(!field.placeholder.is_empty()).then_some(field.placeholder)
                    aria-describedby=described
                    prop:value=value
                    on:input=move |ev| set(event_target_value(&ev))
                />
            }
            .into_any()
        }
        Input::Json => view! {
            <label for=id.clone()>{field.label}</label>
            <textarea
                id=id
                name=name
                class="mono"
                rows="3"
                aria-describedby=described
                prop:value=value
                on:input=move |ev| set(event_target_value(&ev))
            ></textarea>
        }
        .into_any(),
        Input::Bool => view! {
            <label class="check">
                <input
                    type="checkbox"
                    id=id
                    name=name
                    aria-describedby=described
                    prop:checked=move || value() == "true"
                    on:change=move |ev| {
                        set(if event_target_checked(&ev) { "true" } else { "false" }.to_string())
                    }
                />
                " "
                {field.label}
            </label>
        }
        .into_any(),
        Input::Choice(_) | Input::Pick | Input::OptPick => {
            let items: Vec<(String, String)> = match field.input {
                Input::Choice(values) => values
                    .iter()
                    .map(|v| {
                        let shown = if v.is_empty() { "none" } else { v };
                        (v.to_string(), shown.to_string())
                    })
                    .collect(),
                Input::OptPick => std::iter::once((String::new(), "none".to_string()))
                    .chain(options.into_iter().map(|c| (c.id.to_string(), c.label)))
                    .collect(),
                _ => std::iter::once((String::new(), "— choose —".to_string()))
                    .chain(options.into_iter().map(|c| (c.id.to_string(), c.label)))
                    .collect(),
            };
            view! {
                <label for=id.clone()>{field.label}</label>
                <select
                    id=id
                    name=name
                    aria-describedby=described
                    on:change=move |ev| set(event_target_value(&ev))
                >
                    {items
                        .into_iter()
                        .map(|(v, shown)| {
                            let v2 = v.clone();
                            let v3 = v.clone();
                            // The attribute for the server's HTML; the property once hydrated,
                            // since an option the operator picked before ignores the attribute.
                            view! {
                                <option
                                    value=v
                                    selected=move || value() == v2
                                    prop:selected=move || value() == v3
                                >
                                    {shown}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            }
            .into_any()
        }
        Input::PickMany => view! {
            <fieldset id=id class="picks" aria-describedby=described>
                <legend>{field.label}</legend>
                {if options.is_empty() {
                    view! { <p class="muted">"None registered yet."</p> }.into_any()
                } else {
                    options
                        .into_iter()
                        .map(|c| {
                            let cid = c.id;
                            view! {
                                <label class="check">
                                    <input
                                        type="checkbox"
                                        name=name
                                        value=cid
                                        prop:checked=move || picked(&value()).contains(&cid)
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            set(toggle_pick(&value(), cid, on))
                                        }
                                    />
                                    " "
                                    {c.label}
                                </label>
                            }
                        })
                        .collect_view()
                        .into_any()
                }}
            </fieldset>
        }
        .into_any(),
    };
    // The policy type's explanation follows the chosen type.
    let help = move || {
        if name == "policy_type" {
            policy_type_help(&value()).to_string()
        } else {
            field.help.to_string()
        }
    };
    view! {
        <div class="field">
            {control}
            <p class="help" id=help_id>{help}</p>
            <p class="field-error" id=error_id role="alert">
                {move || editor.errors.with(|e| field_error(e, name))}
            </p>
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_toggle_in_order_without_repeats() {
        assert_eq!(toggle_pick("", 3, true), "3");
        assert_eq!(toggle_pick("3", 1, true), "1,3");
        assert_eq!(toggle_pick("1,3", 1, true), "1,3");
        assert_eq!(toggle_pick("1,3", 1, false), "3");
        assert_eq!(picked("1, x,2"), vec![1, 2]);
    }
}
