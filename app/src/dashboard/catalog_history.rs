//! The history of one archived path, opened from any item of the catalog browser or search:
//! every version (newest first), when it appeared, changed or vanished, the archives holding
//! it, and per version a download, a restore and its folder in the newest archive that holds it.

use leptos::prelude::*;

use super::{
    catalog::{Place, parent_of},
    error_text, job_filters,
    on_demand::{Form, form_view},
    path_history,
};
use crate::{
    display::{bytes, minute, second},
    dto::{ArchiveRef, CatalogVersion},
};

/// How a version came and went, in words: `appeared`, `changed`, `reappeared`, then `current`,
/// `changed` or `vanished` after its last archive.
fn story(v: &CatalogVersion) -> String {
    let then = match v.then.as_str() {
        "current" => "still current",
        "vanished" => "then vanished",
        "changed" => "then changed",
        other => other,
    };
    format!("{}, {then}", v.change)
}

/// The archives of a version: `in a` or `in 3 archives, a … c`.
fn span(v: &CatalogVersion) -> String {
    match (v.archives.first(), v.archives.last()) {
        (Some(first), Some(_)) if v.archives.len() == 1 => {
            format!("{} ({})", first.name, minute(&first.created))
        }
        (Some(first), Some(last)) => format!(
            "{} archives: {} ({}) … {} ({})",
            v.archives.len(),
            first.name,
            minute(&first.created),
            last.name,
            minute(&last.created)
        ),
        _ => String::new(),
    }
}

/// Files and folders only: a link, a device or a fifo has no content to send.
fn downloadable(mode: &str) -> bool {
    mode.starts_with('-') || mode.starts_with('d')
}

#[component]
pub(super) fn PathHistory(place: Place) -> impl IntoView {
    let (path, client) = (place.history.clone(), place.client);
    let versions = Resource::new(move || (path.clone(), client), |(p, c)| path_history(p, c));
    // The client column, only when the history spans every client.
    let clients = Resource::new(|| (), |_| job_filters());
    // The version being restored: its newest archive; the form restores just this path.
    let restoring = RwSignal::new(None::<ArchiveRef>);
    let selected = RwSignal::new(vec![place.history.clone()]);
    let title_path = place.history.clone();
    view! {
        <section aria-labelledby="history-title" id="catalog-history" class="card">
            <h2 id="history-title">"History of " <code>{title_path}</code></h2>
            <p>
                <a href=place.without_history() id="history-close">"Close the history"</a>
            </p>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || {
                    let place = place.clone();
                    Suspend::new(async move {
                        let labels = if place.client.is_none() {
                            clients.await.ok().and_then(|mut c| c.remove("client"))
                        } else {
                            None
                        };
                        match versions.await {
                            Ok(h) if h.results.is_empty() => view! {
                                <p class="muted" id="history-empty">
                                    "No catalogued archive holds this path."
                                </p>
                            }
                            .into_any(),
                            Ok(h) => view! {
                                <Versions place versions=h.results labels restoring/>
                            }
                            .into_any(),
                            Err(e) => view! {
                                <p class="form-error" role="alert">{error_text(&e)}</p>
                            }
                            .into_any(),
                        }
                    })
                }}
            </Transition>
            <Transition fallback=|| view! { <p class="loading">"Loading the form…"</p> }>
                {move || {
                    restoring
                        .get()
                        .map(|archive| Suspend::new(async move {
                            form_view(Form::Restore(archive, String::new(), selected)).await
                        }))
                }}
            </Transition>
        </section>
    }
}

#[component]
fn Versions(
    place: Place,
    versions: Vec<CatalogVersion>,
    labels: Option<Vec<crate::resources::Choice>>,
    restoring: RwSignal<Option<ArchiveRef>>,
) -> impl IntoView {
    let with_client = labels.is_some();
    let count = versions.len();
    let rows = versions
        .into_iter()
        .rev()
        .map(|v| {
            let newest = v.archives.last().cloned();
            let client = labels.as_ref().map(|l| {
                v.client
                    .and_then(|c| l.iter().find(|x| x.id == c).map(|x| x.label.clone()))
                    .unwrap_or_else(|| "(deleted)".into())
            });
            let actions = newest.map(|a| {
                let download = downloadable(&v.mode).then(|| {
                    let label = if v.mode.starts_with('d') { "Download .tar" } else { "Download" };
                    view! {
                        <a class="download" href=format!("/api/v1/catalogs/{}/download/", a.entry) download="">
                            {label}
                        </a>
                    }
                });
                let archive = ArchiveRef {
                    id: a.id,
                    name: a.name.clone(),
                    created: a.created,
                    client: v.client,
                    repository: v.repository,
                };
                let folder = place.at(a.id, parent_of(&place.history));
                view! {
                    {download}
                    " "
                    <button
                        type="button"
                        class="secondary restore-version"
                        on:click=move |_| restoring.set(Some(archive.clone()))
                    >
                        "Restore…"
                    </button>
                    " "
                    <a class="open-folder" href=folder title=format!("Its folder in {}", a.name)>
                        "Open folder"
                        <span class="visually-hidden">{format!(" in {}", a.name)}</span>
                    </a>
                }
            });
            view! {
                <tr class="version" data-change=v.change.clone() data-then=v.then.clone()>
                    {client.map(|c| view! { <td>{c}</td> })}
                    <td class="story">{story(&v)}</td>
                    <td class="size">
                        {if v.mode.starts_with('d') { String::new() } else { bytes(v.size) }}
                    </td>
                    <td class="mtime">{v.mtime.map(|t| second(&t)).unwrap_or_default()}</td>
                    <td><code>{v.mode.clone()}</code></td>
                    <td>{format!("{}:{}", v.owner, v.group)}</td>
                    <td>{if v.healthy { "yes" } else { "no" }}</td>
                    <td class="span">{span(&v)}</td>
                    <td class="actions">{actions}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p id="history-count">
            {format!("{count} version{}, newest first.", if count == 1 { "" } else { "s" })}
        </p>
        <div class="table-wrap">
            <table id="history-versions">
                <thead>
                    <tr>
                        {with_client.then(|| view! { <th scope="col">"Client"</th> })}
                        <th scope="col">"Version"</th>
                        <th scope="col">"Size"</th>
                        <th scope="col">"Modified"</th>
                        <th scope="col">"Mode"</th>
                        <th scope="col">"Owner"</th>
                        <th scope="col">"Healthy"</th>
                        <th scope="col">"Archives"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::dto::CatalogVersionArchive;

    fn version(change: &str, then: &str, archives: &[&str]) -> CatalogVersion {
        CatalogVersion {
            repository: 1,
            policy: Some(2),
            client: Some(3),
            change: change.into(),
            then: then.into(),
            mode: "-rw-r--r--".into(),
            mtime: None,
            owner: "root".into(),
            group: "root".into(),
            size: 18,
            healthy: true,
            archives: archives
                .iter()
                .enumerate()
                .map(|(i, name)| CatalogVersionArchive {
                    id: i as i32 + 1,
                    name: name.to_string(),
                    created: Utc
                        .with_ymd_and_hms(2027, 1, i as u32 + 1, 3, 0, 0)
                        .unwrap(),
                    job: None,
                    entry: 7,
                })
                .collect(),
        }
    }

    #[test]
    fn a_version_in_words() {
        let one = version("appeared", "changed", &["mon"]);
        assert_eq!(story(&one), "appeared, then changed");
        assert_eq!(span(&one), "mon (2027-01-01 03:00 UTC)");
        let three = version("changed", "current", &["mon", "tue", "wed"]);
        assert_eq!(story(&three), "changed, still current");
        assert_eq!(
            span(&three),
            "3 archives: mon (2027-01-01 03:00 UTC) … wed (2027-01-03 03:00 UTC)"
        );
        assert_eq!(
            story(&version("reappeared", "vanished", &["x"])),
            "reappeared, then vanished"
        );
        assert!(downloadable("-rw-r--r--") && downloadable("drwxr-xr-x"));
        assert!(!downloadable("lrwxrwxrwx"));
    }
}
