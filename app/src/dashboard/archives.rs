//! `/archives`: every archive the server knows, newest first, filtered by repository, name and
//! foreign (the filters are in the address); `/archives?id=N`: one archive with what borg says
//! of it (sizes, files, duration, host, command line), rename and delete (superusers), and a
//! comparison with another archive of its repository; `/archives?id=N&other=M`: what changed
//! between the two (added, removed, changed paths), filtered by change and paged.
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_query_map},
};

use super::{
    ArchiveView, RpcError, archive_detail, archive_diff_page, archive_filters, archive_list,
    archive_remove, archive_rename_to,
    confirm::DeleteConfirm,
    error_text,
    jobs::{FilterSelect, elapsed},
    listing::{GetForm, field_error, page_links},
    percent_encode,
};
use crate::{
    display::{bytes, minute, second},
    dto::{Archive, ArchiveDiff, DiffEntry, FormOutcome},
    resources::Choice,
};

/// The filters of the archives list, as in the address.
#[derive(Debug, Clone, Default, PartialEq)]
struct ArchiveFilter {
    repository: String,
    search: String,
    foreign: bool,
    page: u64,
}

impl ArchiveFilter {
    /// `/archives?repository=…&search=…&foreign=true&page=…` with the empty parts left out.
    fn href(&self, page: u64) -> String {
        let parts: Vec<String> = [("repository", &self.repository), ("search", &self.search)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", percent_encode(v, b"")))
            .chain(self.foreign.then(|| "foreign=true".to_string()))
            .chain((page > 1).then(|| format!("page={page}")))
            .collect();
        if parts.is_empty() {
            "/archives".into()
        } else {
            format!("/archives?{}", parts.join("&"))
        }
    }
}

/// The address of a diff page.
fn diff_href(id: i32, other: i32, change: &str, page: u64) -> String {
    let mut href = format!("/archives?id={id}&other={other}");
    if !change.is_empty() {
        href.push_str(&format!("&change={}", percent_encode(change, b"")));
    }
    if page > 1 {
        href.push_str(&format!("&page={page}"));
    }
    href
}

/// The archive made before `a` by the same policy and client (the newest older one), else the
/// newest older one of the repository. `siblings` are newest first.
fn previous_of<'a>(a: &Archive, siblings: &'a [Archive]) -> Option<&'a Archive> {
    let older = || {
        siblings
            .iter()
            .filter(move |s| (s.created, s.id) < (a.created, a.id))
    };
    let lineage = a.policy.is_some() || a.client.is_some();
    lineage
        .then(|| older().find(|s| s.policy == a.policy && s.client == a.client))
        .flatten()
        .or_else(|| older().next())
}

#[component]
pub fn ArchivesPage() -> impl IntoView {
    let query = use_query_map();
    let opened = Memo::new(move |_| {
        query.with(|q| {
            let id = |k: &str| q.get(k).and_then(|v| v.parse::<i32>().ok());
            (id("id"), id("other"))
        })
    });
    move || match opened.get() {
        (Some(id), Some(other)) => view! { <DiffPage id other/> }.into_any(),
        (Some(id), None) => view! { <ArchiveDetail id/> }.into_any(),
        _ => view! { <ArchiveList/> }.into_any(),
    }
}

#[component]
fn ArchiveList() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|q| ArchiveFilter {
            repository: q.get("repository").unwrap_or_default(),
            search: q.get("search").unwrap_or_default(),
            foreign: q.get("foreign").is_some_and(|v| v == "true" || v == "on"),
            page: q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
        })
    });
    let list = Resource::new(
        move || filter.get(),
        |f| archive_list(f.repository, f.search, f.foreign, f.page),
    );
    let names = Resource::new(|| (), |_| archive_filters());
    view! {
        <Title text="Archives — CyBorgBackup"/>
        <h1>"Archives"</h1>
        <GetForm action="/archives".to_string() class="filters" id="archive-filters">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let names = names.await.unwrap_or_default();
                    let options = names
                        .get("repository")
                        .map(|v: &Vec<Choice>| {
                            v.iter().map(|c| (c.id.to_string(), c.label.clone())).collect()
                        })
                        .unwrap_or_default();
                    view! {
                        <FilterSelect
                            name="repository"
                            label="Repository"
                            options
                            current=Signal::derive(move || filter.with(|f| f.repository.clone()))
                        />
                    }
                    .into_any()
                })}
            </Transition>
            <span class="filter">
                <label for="archive-search">"Name"</label>
                <input
                    id="archive-search"
                    name="search"
                    type="search"
                    value=move || filter.with(|f| f.search.clone())
                />
            </span>
            <label class="check">
                <input
                    type="checkbox"
                    id="archive-foreign"
                    name="foreign"
                    value="true"
                    checked=move || filter.with(|f| f.foreign)
                />
                " Foreign only"
            </label>
            <button type="submit" class="secondary">"Filter"</button>
        </GetForm>
        <p class="help">
            "Foreign archives were found in a repository, not made by this server "
            "(a repository's Import): no prune deletes them."
        </p>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(page) => {
                        let f = filter.get_untracked();
                        let pager = page_links(
                            page.count,
                            ("archive", "archives"),
                            f.page,
                            "archives-count".to_string(),
                            &|p| f.href(p),
                        );
                        view! {
                            <ArchiveTable archives=page.results/>
                            {pager}
                        }
                        .into_any()
                    }
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }
                        .into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

fn catalogued(a: &Archive) -> String {
    if a.catalogued {
        format!("{} items", a.entries)
    } else {
        "no".into()
    }
}

#[component]
fn ArchiveTable(archives: Vec<Archive>) -> impl IntoView {
    let rows = if archives.is_empty() {
        view! { <tr><td colspan="6" class="empty">"No archives."</td></tr> }.into_any()
    } else {
        archives
            .into_iter()
            .map(|a| {
                let foreign = a
                    .foreign
                    .then(|| view! { <span class="badge foreign">"foreign"</span> });
                let (name, cat) = (a.name.clone(), catalogued(&a));
                view! {
                    <tr data-archive-id=a.id>
                        <td class="name">
                            <A href=format!("/archives?id={}", a.id)>{name}</A>
                        </td>
                        <td>{a.repository_name.clone()}</td>
                        <td>{a.client_hostname.clone()}</td>
                        <td>{second(&a.created)}</td>
                        <td>{foreign}</td>
                        <td>{cat}</td>
                    </tr>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <div class="table-wrap">
            <table id="archives-table">
                <thead>
                    <tr>
                        <th scope="col">"Archive"</th>
                        <th scope="col">"Repository"</th>
                        <th scope="col">"Client"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Foreign"</th>
                        <th scope="col">"Catalogued"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn ArchiveDetail(id: i32) -> impl IntoView {
    // Bumped after a rename, to read the archive again.
    let version = RwSignal::new(0u32);
    let data = Resource::new(move || version.get(), move |_| archive_detail(id));
    // The delete's confirmation; a delete bumps `deleted`, and the page goes to the list.
    let pending_delete = RwSignal::new(None::<(i32, String)>);
    let deleted = RwSignal::new(0u32);
    let back = RwSignal::new("/archives".to_string());
    let navigate = use_navigate();
    Effect::new(move |_| {
        if deleted.get() > 0 {
            navigate(&back.get_untracked(), Default::default());
        }
    });
    view! {
        <Title text="Archive — CyBorgBackup"/>
        <p><a href="/archives">"← All archives"</a></p>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => {
                        back.set(format!("/archives?repository={}", v.archive.repository));
                        view! { <ArchiveCard view=v version pending_delete/> }.into_any()
                    }
                    Err(e) => view! {
                        <h1>"Archive"</h1>
                        <p class="form-error" role="alert">{error_text(&e)}</p>
                    }
                    .into_any(),
                }
            })}
        </Transition>
        <DeleteConfirm
            noun="archive"
            pending=pending_delete
            version=deleted
            load=|_: i32| async { Ok::<_, RpcError>(Vec::<String>::new()) }
            delete=archive_remove
            describe=|_: &[String]| {
                "borg deletes it from the repository (then compacts), and its catalog goes. \
                 This cannot be undone. Refused while a job runs on the repository, and for an \
                 append-only repository."
                    .to_string()
            }
        />
    }
    .into_any()
}

#[component]
fn ArchiveCard(
    view: ArchiveView,
    version: RwSignal<u32>,
    pending_delete: RwSignal<Option<(i32, String)>>,
) -> impl IntoView {
    let ArchiveView {
        archive: a,
        siblings,
        is_superuser,
    } = view;
    let id = a.id;
    let previous = previous_of(&a, &siblings).map(|p| {
        view! {
            <p>
                <A href=diff_href(id, p.id, "", 1) attr:id="archive-changes">
                    {format!("Changes since the previous archive ({})", p.name)}
                </A>
            </p>
        }
    });
    let compare = (!siblings.is_empty()).then(|| {
        let options = siblings
            .iter()
            .map(|s| {
                view! {
                    <option value=s.id>{format!("{} ({})", s.name, minute(&s.created))}</option>
                }
            })
            .collect_view();
        view! {
            <GetForm action="/archives".to_string() class="filters" id="archive-compare">
                <input type="hidden" name="id" value=id/>
                <span class="filter">
                    <label for="archive-other">"Compare with…"</label>
                    <select id="archive-other" name="other">{options}</select>
                </span>
                <button type="submit" class="secondary">"Compare"</button>
            </GetForm>
        }
    });
    let catalog = match (a.catalogued, a.client) {
        (true, Some(c)) => view! {
            <a href=format!("/catalog?client={c}&archive={id}")>{catalogued(&a)}</a>
        }
        .into_any(),
        _ => catalogued(&a).into_any(),
    };
    let job = a
        .job
        .map(|j| view! { <a href=format!("/jobs/{j}")>{format!("#{j}")}</a> }.into_any())
        .unwrap_or_else(|| "—".into_any());
    let rows: Vec<(&str, AnyView)> = vec![
        (
            "Repository",
            view! {
                <a href=format!("/archives?repository={}", a.repository)>
                    {a.repository_name.clone()}
                </a>
            }
            .into_any(),
        ),
        (
            "Client",
            if a.client_hostname.is_empty() {
                "—".to_string()
            } else {
                a.client_hostname.clone()
            }
            .into_any(),
        ),
        ("Created", second(&a.created).into_any()),
        ("Job", job),
        (
            "Foreign",
            if a.foreign {
                "yes: found in the repository, never pruned"
            } else {
                "no"
            }
            .into_any(),
        ),
        ("Catalogued", catalog),
    ];
    let borg = match (a.borg.clone(), a.borg_error.clone()) {
        (Some(b), _) => {
            let rows: Vec<(&str, String)> = vec![
                ("Original size", bytes(b.original_size)),
                ("Compressed size", bytes(b.compressed_size)),
                ("Deduplicated size", bytes(b.deduplicated_size)),
                ("Files", b.nfiles.to_string()),
                ("Duration", elapsed(b.duration)),
                ("Start", b.start.clone()),
                ("End", b.end.clone()),
                ("Hostname", b.hostname.clone()),
                ("User", b.username.clone()),
                ("Comment", b.comment.clone()),
                ("Archive id", b.borg_id.clone()),
            ];
            let command = b.command_line.join(" ");
            view! {
                <dl class="job-fields" id="archive-borg">
                    {rows
                        .into_iter()
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> })
                        .collect_view()}
                    <dt>"Command line"</dt>
                    <dd><code id="archive-command-line">{command}</code></dd>
                </dl>
            }
            .into_any()
        }
        (None, Some(e)) => view! {
            <p class="form-error" id="archive-borg-error">{format!("borg could not be asked: {e}")}</p>
        }
        .into_any(),
        (None, None) => ().into_any(),
    };
    let manage = is_superuser.then(|| {
        let name = a.name.clone();
        view! { <RenameForm id name version pending_delete/> }
    });
    view! {
        <h1 id="archive-title">{a.name.clone()}</h1>
        <dl class="job-fields">
            {rows
                .into_iter()
                .map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> })
                .collect_view()}
        </dl>
        <h2>"What borg says"</h2>
        {borg}
        <h2>"Changes"</h2>
        {previous}
        {compare}
        {siblings.is_empty().then(|| view! {
            <p class="muted">"No other archive in this repository to compare with."</p>
        })}
        {manage}
    }
    .into_any()
}

/// Rename (a small form) and Delete (asks first), for superusers.
#[component]
fn RenameForm(
    id: i32,
    name: String,
    version: RwSignal<u32>,
    pending_delete: RwSignal<Option<(i32, String)>>,
) -> impl IntoView {
    // The input is read when the form is sent (it may have been typed in before the page was
    // hydrated).
    let input = NodeRef::<leptos::html::Input>::new();
    let error = RwSignal::new(String::new());
    let done = RwSignal::new(String::new());
    let rename = Action::new(move |new: &String| archive_rename_to(id, new.clone()));
    Effect::new(move |_| match rename.value().get() {
        Some(Ok(FormOutcome::Saved(a))) => {
            error.set(String::new());
            done.set(format!("Renamed to “{}”.", a.name));
            version.update(|v| *v += 1);
        }
        Some(Ok(FormOutcome::Invalid(fields))) => {
            let text = [field_error(&fields, "name"), field_error(&fields, "form")]
                .into_iter()
                .filter(|m| !m.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            error.set(text);
        }
        Some(Err(e)) => error.set(error_text(&e)),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        done.set(String::new());
        if let Some(el) = input.get_untracked() {
            rename.dispatch(el.value());
        }
    };
    let delete_name = name.clone();
    view! {
        <section class="card editor" aria-labelledby="archive-manage-title">
            <h2 id="archive-manage-title">"Rename or delete"</h2>
            <form id="archive-rename-form" on:submit=submit novalidate>
                <div class="field">
                    <label for="archive-name">"New name"</label>
                    <input
                        id="archive-name"
                        name="name"
                        type="text"
                        autocomplete="off"
                        value=name
                        aria-describedby="archive-name-error"
                        node_ref=input
                    />
                    <p class="field-error" id="archive-name-error" role="alert">
                        {move || error.get()}
                    </p>
                </div>
                <div class="buttons">
                    <button type="submit" id="archive-rename" disabled=move || rename.pending().get()>
                        "Rename"
                    </button>
                    <button
                        type="button"
                        class="danger"
                        id="archive-delete"
                        on:click=move |_| pending_delete.set(Some((id, delete_name.clone())))
                    >
                        "Delete…"
                    </button>
                </div>
                <p class="saved" id="archive-renamed" role="status">{move || done.get()}</p>
            </form>
            <p class="help">
                "borg renames or deletes the archive in the repository; no job runs on the "
                "repository meanwhile. An append-only repository refuses both."
            </p>
        </section>
    }
}

#[component]
fn DiffPage(id: i32, other: i32) -> impl IntoView {
    let query = use_query_map();
    let wanted = Memo::new(move |_| {
        query.with(|q| {
            (
                q.get("change").unwrap_or_default(),
                q.get("page")
                    .and_then(|p| p.parse::<u64>().ok())
                    .unwrap_or(1),
            )
        })
    });
    let data = Resource::new(
        move || wanted.get(),
        move |(change, page)| archive_diff_page(id, other, change, page),
    );
    view! {
        <Title text="Changes — CyBorgBackup"/>
        <p><a href=format!("/archives?id={id}")>"← The archive"</a></p>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (change, page) = wanted.get_untracked();
                match data.await {
                    Ok(d) => diff_view(id, other, &change, page, d).into_any(),
                    Err(e) => view! {
                        <h1>"Changes"</h1>
                        <p class="form-error" role="alert">{error_text(&e)}</p>
                    }
                    .into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

/// `before → after`, `—` for a side that has none; one value when both are the same.
fn before_after(before: Option<String>, after: Option<String>) -> String {
    match (before, after) {
        (Some(b), Some(a)) if a == b => a,
        (b, a) => format!(
            "{} → {}",
            b.unwrap_or_else(|| "—".into()),
            a.unwrap_or_else(|| "—".into())
        ),
    }
}

fn diff_view(id: i32, other: i32, change: &str, page: u64, d: ArchiveDiff) -> impl IntoView {
    let filters = [
        ("", format!("All ({})", d.added + d.removed + d.changed)),
        ("added", format!("Added ({})", d.added)),
        ("removed", format!("Removed ({})", d.removed)),
        ("changed", format!("Changed ({})", d.changed)),
    ]
    .into_iter()
    .map(|(c, label)| {
        let current = (c == change).then_some("page");
        view! { <a href=diff_href(id, other, c, 1) aria-current=current>{label}</a> }
    })
    .collect_view();
    let counts = format!(
        "{} added, {} removed, {} changed",
        d.added, d.removed, d.changed
    );
    let change_owned = change.to_string();
    let pager = page_links(
        d.count,
        ("path", "paths"),
        page,
        "diff-count".to_string(),
        &|p| diff_href(id, other, &change_owned, p),
    );
    let rows = if d.results.is_empty() {
        view! { <tr><td colspan="5" class="empty">"No change."</td></tr> }.into_any()
    } else {
        d.results
            .into_iter()
            .map(diff_row)
            .collect_view()
            .into_any()
    };
    view! {
        <h1 id="diff-title">"Changes"</h1>
        <p id="diff-archives">
            "From "
            <a href=format!("/archives?id={}", d.from.id)><strong>{d.from.name.clone()}</strong></a>
            {format!(" ({}) to ", minute(&d.from.created))}
            <a href=format!("/archives?id={}", d.to.id)><strong>{d.to.name.clone()}</strong></a>
            {format!(" ({})", minute(&d.to.created))}
        </p>
        <p id="diff-counts">{counts}</p>
        <nav class="pager diff-filter" aria-label="Changes">{filters}</nav>
        <div class="table-wrap">
            <table id="diff-table">
                <thead>
                    <tr>
                        <th scope="col">"Path"</th>
                        <th scope="col">"Change"</th>
                        <th scope="col">"What"</th>
                        <th scope="col">"Size"</th>
                        <th scope="col">"Modified"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        {pager}
    }
}

fn diff_row(e: DiffEntry) -> impl IntoView {
    let size = before_after(e.size_before.map(bytes), e.size_after.map(bytes));
    let mtime = before_after(
        e.mtime_before.map(|t| second(&t)),
        e.mtime_after.map(|t| second(&t)),
    );
    view! {
        <tr class=format!("diff diff-{}", e.change) data-change=e.change.clone() data-path=e.path.clone()>
            <td class="path"><code>{e.path.clone()}</code></td>
            <td class="change">{e.change.clone()}</td>
            <td>{e.what.join(", ")}</td>
            <td class="size">{size}</td>
            <td class="mtime">{mtime}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::dto::Related;

    fn archive(id: i32, day: u32, policy: Option<i32>, client: Option<i32>) -> Archive {
        Archive {
            id,
            kind: "archive".into(),
            url: String::new(),
            related: Related::default(),
            name: format!("a{id}"),
            repository: 1,
            repository_name: "r".into(),
            policy,
            client,
            client_hostname: String::new(),
            job: None,
            created: Utc.with_ymd_and_hms(2027, 1, day, 3, 0, 0).unwrap(),
            foreign: false,
            catalogued: false,
            entries: 0,
            borg: None,
            borg_error: None,
        }
    }

    #[test]
    fn the_previous_archive_is_of_the_same_lineage_else_of_the_repository() {
        let a = archive(5, 5, Some(1), Some(2));
        // Newest first, as the page reads them.
        let siblings = vec![
            archive(6, 6, Some(1), Some(2)),
            archive(4, 4, Some(1), Some(3)),
            archive(3, 3, Some(1), Some(2)),
            archive(2, 2, None, None),
        ];
        assert_eq!(previous_of(&a, &siblings).map(|p| p.id), Some(3));
        let foreign = archive(7, 5, None, None);
        assert_eq!(previous_of(&foreign, &siblings).map(|p| p.id), Some(4));
        let lonely = archive(8, 5, Some(9), Some(9));
        assert_eq!(previous_of(&lonely, &siblings).map(|p| p.id), Some(4));
        assert_eq!(previous_of(&archive(1, 1, None, None), &siblings), None);
    }

    #[test]
    fn addresses_keep_the_filters() {
        let f = ArchiveFilter {
            repository: "3".into(),
            search: "web 1".into(),
            foreign: true,
            page: 1,
        };
        assert_eq!(
            f.href(2),
            "/archives?repository=3&search=web%201&foreign=true&page=2"
        );
        assert_eq!(ArchiveFilter::default().href(1), "/archives");
        assert_eq!(diff_href(4, 5, "", 1), "/archives?id=4&other=5");
        assert_eq!(
            diff_href(4, 5, "added", 2),
            "/archives?id=4&other=5&change=added&page=2"
        );
        assert_eq!(before_after(Some("1".into()), Some("1".into())), "1");
        assert_eq!(before_after(None, Some("2".into())), "— → 2");
    }
}
