//! `/catalog?client=…&archive=…&dir=…&q=…`: pick a client, one of its archives, and walk the
//! archive one directory at a time (each folder is read when it is opened); or search the paths
//! of every archive (of the client, or of all) with the results grouped by archive. Any
//! archived item opens its history (`history=<path>`, `catalog_history`).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};

use super::{
    CATALOG_HITS, browse_dir, catalog_archives,
    catalog_history::PathHistory,
    error_text, job_filters,
    listing::{GetForm, field_error},
    on_demand::{Form, FormOnDemand, form_view},
    percent_encode, restore_items, search_catalog,
};
use crate::{
    display::{bytes, minute, second},
    dto::{ArchiveRef, CatalogEntry, FieldErrors, FormOutcome, RestoreInput},
};

/// The page's state, as in the address.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Place {
    pub(super) client: Option<i32>,
    archive: Option<i32>,
    dir: String,
    q: String,
    /// The directory's page after this path (`""`: the first page).
    after: String,
    /// The path whose versions are shown (`""`: none).
    pub(super) history: String,
}

impl Place {
    /// The address of this place (empty parts left out).
    fn href(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.client {
            parts.push(format!("client={c}"));
        }
        if let Some(a) = self.archive {
            parts.push(format!("archive={a}"));
        }
        if !self.dir.is_empty() {
            parts.push(format!("dir={}", percent_encode(&self.dir, b"/")));
        }
        if !self.q.is_empty() {
            parts.push(format!("q={}", percent_encode(&self.q, b"")));
        }
        if !self.after.is_empty() {
            parts.push(format!("after={}", percent_encode(&self.after, b"/")));
        }
        if !self.history.is_empty() {
            parts.push(format!("history={}", percent_encode(&self.history, b"/")));
        }
        if parts.is_empty() {
            "/catalog".into()
        } else {
            format!("/catalog?{}", parts.join("&"))
        }
    }

    pub(super) fn at(&self, archive: i32, dir: &str) -> String {
        Place {
            client: self.client,
            archive: Some(archive),
            dir: dir.to_string(),
            ..Place::default()
        }
        .href()
    }

    /// This place with the history of `path` open.
    fn history_of(&self, path: &str) -> String {
        Place {
            history: path.to_string(),
            ..self.clone()
        }
        .href()
    }

    /// This place with the history closed.
    pub(super) fn without_history(&self) -> String {
        Place {
            history: String::new(),
            ..self.clone()
        }
        .href()
    }

    /// The next page of this directory, after the path `after`.
    fn after(&self, after: &str) -> String {
        Place {
            after: after.to_string(),
            ..self.clone()
        }
        .href()
    }
}

/// The directories from the top down to `dir`, each with its path: `a/b` → `[(a, a), (b, a/b)]`.
fn crumbs(dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut path = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(part);
        out.push((part.to_string(), path.clone()));
    }
    out
}

/// The directory holding `path` (`""` at the top).
pub(super) fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

#[component]
pub fn CatalogPage() -> impl IntoView {
    let query = use_query_map();
    let place = Memo::new(move |_| {
        query.with(|q| Place {
            client: q.get("client").and_then(|v| v.parse().ok()),
            archive: q.get("archive").and_then(|v| v.parse().ok()),
            dir: q.get("dir").unwrap_or_default(),
            q: q.get("q").unwrap_or_default(),
            after: q.get("after").unwrap_or_default(),
            history: q.get("history").unwrap_or_default(),
        })
    });
    let clients = Resource::new(|| (), |_| job_filters());
    let archives = Resource::new(move || place.with(|p| p.client), catalog_archives);
    view! {
        <Title text="Catalog — CyBorgBackup"/>
        <h1>"Catalog"</h1>
        <GetForm action="/catalog".to_string() class="filters" id="catalog-client">
            <span class="filter">
                <label for="catalog-client-select">"Client"</label>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        let list = clients
                            .await
                            .ok()
                            .and_then(|mut c| c.remove("client"))
                            .unwrap_or_default();
                        let current = place.with_untracked(|p| p.client);
                        view! {
                            <select id="catalog-client-select" name="client">
                                <option value="" selected=current.is_none()>"all clients"</option>
                                {list
                                    .into_iter()
                                    .map(|c| {
                                        let selected = current == Some(c.id);
                                        view! { <option value=c.id selected=selected>{c.label}</option> }
                                    })
                                    .collect_view()}
                            </select>
                        }
                        // Erased: see the jobs page's filters.
                        .into_any()
                    })}
                </Transition>
            </span>
            <span class="filter">
                <label for="catalog-search">"Search paths"</label>
                <input
                    id="catalog-search"
                    name="q"
                    type="search"
                    value=move || place.with(|p| p.q.clone())
                    placeholder="part of a path"
                />
            </span>
            <button type="submit" class="secondary">"Show"</button>
        </GetForm>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let p = place.get();
                let history = (!p.history.is_empty())
                    .then(|| view! { <PathHistory place=p.clone()/> });
                let rest = match archives.await {
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }
                        .into_any(),
                    Ok(list) if !p.q.is_empty() => view! { <SearchResults place=p archives=list/> }
                        .into_any(),
                    Ok(list) => view! { <Browser place=p archives=list/> }.into_any(),
                };
                view! { {history} {rest} }.into_any()
            })}
        </Transition>
    }
    .into_any()
}

/// The archives (newest first) as links, and the open directory of the chosen one.
#[component]
fn Browser(place: Place, archives: Vec<ArchiveRef>) -> impl IntoView {
    if archives.is_empty() {
        return view! { <p class="muted" id="catalog-empty">"No archive in the catalog yet."</p> }
            .into_any();
    }
    let open = place
        .archive
        .and_then(|a| archives.iter().find(|x| x.id == a).cloned());
    let links = archives
        .iter()
        .map(|a| {
            let current = open.as_ref().is_some_and(|o| o.id == a.id);
            view! {
                <li>
                    <a href=place.at(a.id, "") aria-current=current.then_some("true")>
                        {a.name.clone()}
                    </a>
                    <span class="muted">{format!(" {}", minute(&a.created))}</span>
                </li>
            }
        })
        .collect_view();
    let listing = open.map(|a| {
        let (archive, dir, after) = (a.id, place.dir.clone(), place.after.clone());
        let items = Resource::new(
            move || (archive, dir.clone(), after.clone()),
            |(a, d, after)| browse_dir(a, d, after),
        );
        // The items ticked for a restore (archive paths).
        let selected = RwSignal::new(Vec::<String>::new());
        let restore_open = RwSignal::new(false);
        let restore_from = a.clone();
        let restore_dir = place.dir.clone();
        let trail = crumbs(&place.dir)
            .into_iter()
            .map(|(name, path)| view! { " / " <a href=place.at(archive, &path)>{name}</a> })
            .collect_view();
        let place = place.clone();
        view! {
            <section aria-labelledby="listing-title">
                <h2 id="listing-title">{a.name.clone()}</h2>
                <nav aria-label="Folder" class="crumbs" id="catalog-crumbs">
                    <a href=place.at(archive, "")>"top"</a>
                    {trail}
                </nav>
                <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || {
                        let place = place.clone();
                        Suspend::new(async move {
                            match items.await {
                                Ok(items) => view! { <Listing place archive items selected/> }
                                    .into_any(),
                                Err(e) => view! {
                                    <p class="form-error" role="alert">{error_text(&e)}</p>
                                }
                                .into_any(),
                            }
                        })
                    }}
                </Transition>
                <FormOnDemand
                    open=restore_open
                    label="Restore…"
                    id="restore-open"
                    form=move || {
                        form_view(
                            Form::Restore(restore_from.clone(), restore_dir.clone(), selected),
                        )
                    }
                />
            </section>
        }
    });
    view! {
        <div class="columns catalog">
            <section aria-labelledby="archives-title">
                <h2 id="archives-title">"Archives"</h2>
                <ul class="archives" id="catalog-archives">{links}</ul>
            </section>
            {listing}
        </div>
    }
    .into_any()
}

#[component]
fn Listing(
    place: Place,
    archive: i32,
    items: crate::dto::CatalogDir,
    selected: RwSignal<Vec<String>>,
) -> impl IntoView {
    let next = items.next.map(|after| {
        view! {
            <p><a href=place.after(&after) id="catalog-next">"Next items →"</a></p>
        }
    });
    let items = items.items;
    let rows = if items.is_empty() {
        view! { <tr><td colspan="8" class="empty">"Empty folder."</td></tr> }.into_any()
    } else {
        items
            .into_iter()
            .map(|i| {
                let name = if i.is_dir {
                    view! { <a href=place.at(archive, &i.path)>{format!("{}/", i.name)}</a> }
                        .into_any()
                } else {
                    view! { <span>{i.name.clone()}</span> }.into_any()
                };
                // Id 0: a folder above the archive's sources, not archived itself (no details).
                let archived = i.id > 0;
                let path = i.path.clone();
                let pick = view! {
                    <input
                        type="checkbox"
                        aria-label=format!("Select {} for a restore", i.name)
                        prop:checked={
                            let path = path.clone();
                            move || selected.with(|s| s.contains(&path))
                        }
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            selected.update(|s| {
                                s.retain(|p| *p != path);
                                if on {
                                    s.push(path.clone());
                                }
                            });
                        }
                    />
                };
                // Files and folders only: a link, a device or a fifo has no content to send.
                let downloadable = archived && (i.is_dir || i.mode.starts_with('-'));
                let download = downloadable.then(|| {
                    let label = if i.is_dir { "Download .tar" } else { "Download" };
                    view! {
                        <a class="download" href=format!("/api/v1/catalogs/{}/download/", i.id) download="">
                            {label}
                        </a>
                    }
                });
                let history = archived.then(|| {
                    view! {
                        <a class="history" href=place.history_of(&i.path)>
                            "History"
                            <span class="visually-hidden">{format!(" of {}", i.name)}</span>
                        </a>
                    }
                });
                view! {
                    <tr data-entry-id=i.id.to_string()>
                        <td class="pick">{pick}</td>
                        <td class="name">{name}</td>
                        <td><code>{i.mode.clone()}</code></td>
                        <td>{archived.then(|| format!("{}:{}", i.owner, i.group))}</td>
                        <td>{if i.is_dir { String::new() } else { bytes(i.size) }}</td>
                        <td>
                            {i.mtime
                                .map(|t| second(&t))
                                .unwrap_or_default()}
                        </td>
                        <td>{archived.then_some(if i.healthy { "yes" } else { "no" })}</td>
                        <td class="actions">{download} {history}</td>
                    </tr>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <div class="table-wrap">
            <table id="catalog-listing">
                <thead>
                    <tr>
                        <th scope="col"><span class="visually-hidden">"Restore"</span></th>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Mode"</th>
                        <th scope="col">"Owner"</th>
                        <th scope="col">"Size"</th>
                        <th scope="col">"Modified"</th>
                        <th scope="col">"Healthy"</th>
                        <th scope="col"><span class="visually-hidden">"Download, history"</span></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        {next}
    }
    .into_any()
}

/// What a restore from this folder covers: the ticked items, else the open folder, else (at the
/// top) the whole archive.
fn restore_items_of(selected: &[String], dir: &str) -> Vec<String> {
    if !selected.is_empty() {
        selected.to_vec()
    } else if dir.is_empty() {
        Vec::new()
    } else {
        vec![dir.to_string()]
    }
}

fn restore_label(selected: usize, dir: &str) -> String {
    match (selected, dir) {
        (0, "") => "Restore the whole archive".into(),
        (0, d) => format!("Restore the folder {d}"),
        (1, _) => "Restore the selected item".into(),
        (n, _) => format!("Restore the {n} selected items"),
    }
}

/// Restore onto a client (any client; the archive's own by default) into a folder there: a
/// `restore` job, whose page opens once it is made.
#[component]
pub(super) fn RestoreForm(
    archive: ArchiveRef,
    dir: String,
    selected: RwSignal<Vec<String>>,
) -> impl IntoView {
    let clients = Resource::new(|| (), |_| job_filters());
    let client = RwSignal::new(archive.client.map(|c| c.to_string()).unwrap_or_default());
    let dest = RwSignal::new(String::new());
    let dry_run = RwSignal::new(false);
    let errors = RwSignal::new(FieldErrors::new());
    let save = Action::new(|input: &RestoreInput| restore_items(input.clone()));
    let navigate = use_navigate();
    Effect::new(move |_| match save.value().get() {
        Some(Ok(FormOutcome::Saved(job))) => navigate(&format!("/jobs/{job}"), Default::default()),
        Some(Ok(FormOutcome::Invalid(e))) => errors.set(e),
        Some(Err(e)) => errors.set([("form".to_string(), vec![error_text(&e)])].into()),
        None => {}
    });
    let label_dir = dir.clone();
    let from = archive.name.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        errors.set(FieldErrors::new());
        save.dispatch(RestoreInput {
            archive_name: Some(archive.name.clone()),
            repository: Some(archive.repository),
            client: client.get_untracked().parse().ok(),
            dest_folder: Some(dest.get_untracked()),
            items: Some(selected.with_untracked(|s| restore_items_of(s, &dir))),
            dry_run: Some(dry_run.get_untracked()),
        });
    };
    let error = move |field: &'static str| move || errors.with(|e| field_error(e, field));
    view! {
        <div class="editor restore">
        <form id="restore-form" on:submit=submit>
            <h3>{move || selected.with(|s| restore_label(s.len(), &label_dir))}</h3>
            <p class="help" id="restore-from">"From the archive " <strong>{from}</strong> "."</p>
            <p class="help">
                "The archive's paths are recreated below the destination folder (made if missing). "
                "A dry run lists what would be restored and writes nothing."
            </p>
            <label for="restore-client">"Onto client"</label>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let list = clients
                        .await
                        .ok()
                        .and_then(|mut c| c.remove("client"))
                        .unwrap_or_default();
                    view! {
                        <select
                            id="restore-client"
                            on:change=move |ev| client.set(event_target_value(&ev))
                        >
                            <option value="" selected=move || client.get().is_empty()>"choose a client"</option>
                            {list
                                .into_iter()
                                .map(|c| {
                                    let id = c.id.to_string();
                                    let mine = id.clone();
                                    view! {
                                        <option value=id selected=move || client.get() == mine>{c.label}</option>
                                    }
                                })
                                .collect_view()}
                        </select>
                    }
                    .into_any()
                })}
            </Transition>
            <span class="field-error" id="restore-client-error">{error("client")}</span>
            <label for="restore-dest">"Into folder"</label>
            <input
                id="restore-dest"
                type="text"
                placeholder="/srv/restore"
                prop:value=move || dest.get()
                on:input=move |ev| dest.set(event_target_value(&ev))
            />
            <span class="field-error" id="restore-dest-error">{error("dest_folder")}</span>
            <label class="check">
                <input
                    id="restore-dry-run"
                    type="checkbox"
                    prop:checked=move || dry_run.get()
                    on:change=move |ev| dry_run.set(event_target_checked(&ev))
                />
                " Dry run"
            </label>
            <span class="field-error" id="restore-items-error">{error("items")}</span>
            <p class="form-error" role="alert" id="restore-error">
                {move || {
                    errors.with(|e| {
                        ["form", "archive_name", "repository", "__all__"]
                            .iter()
                            .map(|f| field_error(e, f))
                            .filter(|m| !m.is_empty())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                }}
            </p>
            <button type="submit" id="restore-submit" disabled=move || save.pending().get()>
                "Restore"
            </button>
        </form>
        </div>
    }
}

/// The entries whose path contains the search, grouped by archive (newest archive first), each
/// a link to its folder in that archive.
#[component]
fn SearchResults(place: Place, archives: Vec<ArchiveRef>) -> impl IntoView {
    let (client, text) = (place.client, place.q.clone());
    let hits = Resource::new(
        move || (client, text.clone()),
        |(c, t)| search_catalog(c, t),
    );
    view! {
        <section aria-labelledby="results-title" id="catalog-results">
            <h2 id="results-title">{format!("Paths containing “{}”", place.q)}</h2>
            <Transition fallback=|| view! { <p class="loading">"Searching…"</p> }>
                {move || {
                    let (place, archives) = (place.clone(), archives.clone());
                    Suspend::new(async move {
                        match hits.await {
                            Ok(page) => {
                                let shown = page.results.len() as u64;
                                let summary = if page.count > shown {
                                    format!("{} matches; the first {CATALOG_HITS} are shown.", page.count)
                                } else {
                                    format!(
                                        "{} match{}.",
                                        page.count,
                                        if page.count == 1 { "" } else { "es" }
                                    )
                                };
                                let mut groups: Vec<(String, Vec<CatalogEntry>)> = Vec::new();
                                for e in page.results {
                                    match groups.last_mut() {
                                        Some((name, list)) if *name == e.archive_name => list.push(e),
                                        _ => groups.push((e.archive_name.clone(), vec![e])),
                                    }
                                }
                                view! {
                                    <p id="catalog-hits">{summary}</p>
                                    {groups
                                        .into_iter()
                                        .map(|(name, entries)| {
                                            let archive = archives.iter().find(|a| a.name == name).map(|a| a.id);
                                            view! {
                                                <section class="hit-group">
                                                    <h3>{name.clone()}</h3>
                                                    <ul>
                                                        {entries
                                                            .into_iter()
                                                            .map(|e| {
                                                                let folder = archive
                                                                    .map(|a| place.at(a, parent_of(&e.path)));
                                                                view! {
                                                                    <li class="hit">
                                                                        {match folder {
                                                                            Some(href) => view! {
                                                                                <a href=href>{e.path.clone()}</a>
                                                                            }
                                                                            .into_any(),
                                                                            None => e.path.clone().into_any(),
                                                                        }}
                                                                        <span class="muted">
                                                                            {format!(" {} ", bytes(e.size))}
                                                                        </span>
                                                                        <a class="history" href=place.history_of(&e.path)>
                                                                            "history"
                                                                        </a>
                                                                    </li>
                                                                }
                                                            })
                                                            .collect_view()}
                                                    </ul>
                                                </section>
                                            }
                                        })
                                        .collect_view()}
                                }
                                .into_any()
                            }
                            Err(e) => view! {
                                <p class="form-error" role="alert">{error_text(&e)}</p>
                            }
                            .into_any(),
                        }
                    })
                }}
            </Transition>
        </section>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_and_crumbs() {
        let p = Place {
            client: Some(2),
            archive: Some(5),
            dir: "srv/a b".into(),
            q: String::new(),
            after: String::new(),
            history: String::new(),
        };
        assert_eq!(p.href(), "/catalog?client=2&archive=5&dir=srv/a%20b");
        // The history opens over the place and closes back to it.
        let h = p.history_of("srv/a b/x&y.txt");
        assert_eq!(
            h,
            "/catalog?client=2&archive=5&dir=srv/a%20b&history=srv/a%20b/x%26y.txt"
        );
        let opened = Place {
            history: "srv/a b/x&y.txt".into(),
            ..p.clone()
        };
        assert_eq!(opened.without_history(), p.href());
        assert_eq!(opened.at(7, ""), "/catalog?client=2&archive=7");
        assert_eq!(p.at(7, ""), "/catalog?client=2&archive=7");
        // The next page of the folder keeps the place; opening another folder starts afresh.
        let next = p.after("srv/a b/m&n");
        assert_eq!(
            next,
            "/catalog?client=2&archive=5&dir=srv/a%20b&after=srv/a%20b/m%26n"
        );
        assert_eq!(
            crumbs("srv/a b"),
            [
                ("srv".to_string(), "srv".to_string()),
                ("a b".to_string(), "srv/a b".to_string())
            ]
        );
        assert!(crumbs("").is_empty());
        assert_eq!(parent_of("srv/a b/x.txt"), "srv/a b");
        assert_eq!(parent_of("top.txt"), "");
    }

    #[test]
    fn what_a_restore_covers() {
        assert!(restore_items_of(&[], "").is_empty(), "the whole archive");
        assert_eq!(restore_items_of(&[], "srv/www"), ["srv/www"]);
        let picked = ["srv/a".to_string(), "srv/b".to_string()];
        assert_eq!(restore_items_of(&picked, "srv"), picked);
        assert_eq!(restore_label(0, ""), "Restore the whole archive");
        assert_eq!(restore_label(0, "srv"), "Restore the folder srv");
        assert_eq!(restore_label(2, "srv"), "Restore the 2 selected items");
    }
}
