//! `/jobs`: the jobs, newest first, filtered by status, type, policy and client (the filters are
//! in the address), whose statuses change live; `/jobs/{id}`: one job whose log streams while it
//! runs, with cancel and relaunch.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use super::RpcError;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_params_map, use_query_map},
};

use super::{
    JobOutcome, cancel_job, error_text, job_filters, list_jobs,
    listing::{GetForm, page_links},
    load_job, percent_encode, relaunch_job,
};
use crate::{
    display::{bytes, second},
    dto::{Job, JobStatus, JobStatusEvent, JobType, JobView},
    resources::Choice,
};

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| second(&t)).unwrap_or_else(|| "—".into())
}

pub(super) fn elapsed(seconds: f64) -> String {
    let s = seconds.round() as i64;
    if s >= 3600 {
        format!("{}h {:02}m {:02}s", s / 3600, s % 3600 / 60, s % 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn finished(status: &str) -> bool {
    JobStatus::parse(status).is_some_and(JobStatus::is_finished)
}

/// The filters of the jobs list, as in the address.
#[derive(Debug, Clone, Default, PartialEq)]
struct JobFilter {
    status: String,
    job_type: String,
    policy: String,
    client: String,
    page: u64,
}

impl JobFilter {
    /// `/jobs?status=…&job_type=…&policy=…&client=…&page=…` with the empty parts left out.
    fn href(&self, page: u64) -> String {
        let parts: Vec<String> = [
            ("status", &self.status),
            ("job_type", &self.job_type),
            ("policy", &self.policy),
            ("client", &self.client),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", percent_encode(v, b"")))
        .chain((page > 1).then(|| format!("page={page}")))
        .collect();
        if parts.is_empty() {
            "/jobs".into()
        } else {
            format!("/jobs?{}", parts.join("&"))
        }
    }
}

#[component]
pub fn JobsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|q| JobFilter {
            status: q.get("status").unwrap_or_default(),
            job_type: q.get("job_type").unwrap_or_default(),
            policy: q.get("policy").unwrap_or_default(),
            client: q.get("client").unwrap_or_default(),
            page: q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
        })
    });
    // Bumped when a job not in the list changes (a new launch), to read the list again.
    let version = RwSignal::new(0u32);
    let list = Resource::new(
        move || (filter.get(), version.get()),
        |(f, _)| list_jobs(f.status, f.job_type, f.policy, f.client, f.page),
    );
    let names = Resource::new(|| (), |_| job_filters());
    // Live statuses of the listed jobs, by id, over what the list read.
    let live = RwSignal::new(HashMap::<i32, JobStatusEvent>::new());
    let shown = StoredValue::new(Vec::<i32>::new());
    #[cfg(feature = "hydrate")]
    super::live::follow_events(
        "/api/v1/jobs/stream/".into(),
        &["status"],
        move |_, text| {
            if let Ok(update) = serde_json::from_str::<JobStatusEvent>(&text) {
                if shown.with_value(|ids| ids.contains(&update.job)) {
                    live.update(|l| {
                        l.insert(update.job, update);
                    });
                } else {
                    version.update(|v| *v += 1);
                }
            }
            true
        },
    );
    view! {
        <Title text="Jobs — CyBorgBackup"/>
        <h1>"Jobs"</h1>
        <GetForm action="/jobs".to_string() class="filters" id="job-filters">
            <FilterSelect
                name="status"
                label="Status"
                options=JobStatus::NAMES.iter().map(|s| (s.to_string(), s.to_string())).collect()
                current=Signal::derive(move || filter.with(|f| f.status.clone()))
            />
            <FilterSelect
                name="job_type"
                label="Type"
                options=JobType::NAMES.iter().map(|s| (s.to_string(), s.to_string())).collect()
                current=Signal::derive(move || filter.with(|f| f.job_type.clone()))
            />
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let names = names.await.unwrap_or_default();
                    let of = |field: &str| -> Vec<(String, String)> {
                        names
                            .get(field)
                            .map(|v: &Vec<Choice>| {
                                v.iter().map(|c| (c.id.to_string(), c.label.clone())).collect()
                            })
                            .unwrap_or_default()
                    };
                    view! {
                        <FilterSelect
                            name="policy"
                            label="Policy"
                            options=of("policy")
                            current=Signal::derive(move || filter.with(|f| f.policy.clone()))
                        />
                        <FilterSelect
                            name="client"
                            label="Client"
                            options=of("client")
                            current=Signal::derive(move || filter.with(|f| f.client.clone()))
                        />
                    }
                    // Erased like every other suspended view: one `Suspend<AnyView>` in the WASM
                    // instead of one more of this view's own type.
                    .into_any()
                })}
            </Transition>
            <button type="submit" class="secondary">"Filter"</button>
        </GetForm>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(page) => {
                        shown.set_value(page.results.iter().map(|j| j.id).collect());
                        let f = filter.get_untracked();
                        let pager = page_links(
                            page.count,
                            ("job", "jobs"),
                            f.page,
                            "jobs-count".to_string(),
                            &|p| f.href(p),
                        );
                        view! {
                            <JobTable jobs=page.results live/>
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

/// A `<select>` of a filter: "any" (empty) first, the current value selected.
#[component]
pub(super) fn FilterSelect(
    name: &'static str,
    label: &'static str,
    options: Vec<(String, String)>,
    current: Signal<String>,
) -> impl IntoView {
    let id = format!("filter-{name}");
    view! {
        <span class="filter">
            <label for=id.clone()>{label}</label>
            <select id=id name=name>
                <option value="" selected=move || current.get().is_empty()>"any"</option>
                {options
                    .into_iter()
                    .map(|(value, shown)| {
                        let v = value.clone();
                        view! {
                            <option value=value selected=move || current.get() == v>{shown}</option>
                        }
                    })
                    .collect_view()}
            </select>
        </span>
    }
}

#[component]
fn JobTable(jobs: Vec<Job>, live: RwSignal<HashMap<i32, JobStatusEvent>>) -> impl IntoView {
    let rows = if jobs.is_empty() {
        view! { <tr><td colspan="8" class="empty">"No jobs."</td></tr> }.into_any()
    } else {
        jobs.into_iter()
            .map(|j| {
                let id = j.id;
                let read = j.status.clone();
                let status = move || {
                    live.with(|l| l.get(&id).map(|u| u.status.clone()))
                        .unwrap_or_else(|| read.clone())
                };
                let status_class = {
                    let status = status.clone();
                    move || format!("status status-{}", status())
                };
                view! {
                    <tr data-job-id=id>
                        <td>
                            <A href=format!("/jobs/{id}")>{format!("#{id} {}", j.name)}</A>
                        </td>
                        <td>{j.job_type.clone()}</td>
                        <td>{j.launch_type.clone()}</td>
                        <td><span class=status_class>{status}</span></td>
                        <td>{j.summary_fields.policy.as_ref().map(|p| p.name.clone())}</td>
                        <td>{j.summary_fields.client.as_ref().map(|c| c.hostname.clone())}</td>
                        <td>{when(j.started)}</td>
                        <td>{elapsed(j.elapsed)}</td>
                    </tr>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <div class="table-wrap">
            <table id="jobs-table" class="jobs">
                <thead>
                    <tr>
                        <th scope="col">"Job"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Launch"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Policy"</th>
                        <th scope="col">"Client"</th>
                        <th scope="col">"Started"</th>
                        <th scope="col">"Elapsed"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
pub fn JobPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .with(|p| p.get("id").and_then(|v| v.parse::<i32>().ok()))
            .unwrap_or(0)
    };
    let version = RwSignal::new(0u32);
    let data = Resource::new(move || (id(), version.get()), |(id, _)| load_job(id));
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <JobDetail view=v version/> }.into_any(),
                    Err(e) => view! {
                        <Title text="Job — CyBorgBackup"/>
                        <h1>"Job"</h1>
                        <p class="form-error" role="alert">{error_text(&e)}</p>
                        <p><a href="/jobs">"All jobs"</a></p>
                    }
                    .into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

#[component]
fn JobDetail(view: JobView, version: RwSignal<u32>) -> impl IntoView {
    let job = view.job;
    let id = job.id;
    let status = RwSignal::new(job.status.clone());
    // Lines that arrived after the page was read, with the counter of the last one.
    let more = RwSignal::new(Vec::<String>::new());
    #[cfg(feature = "hydrate")]
    if !finished(&job.status) {
        let last = std::cell::Cell::new(view.last_counter);
        let last = std::rc::Rc::new(last);
        super::live::follow_events(
            format!("/api/v1/jobs/{id}/stream/?after={}", view.last_counter),
            &["line", "status"],
            move |event, text| {
                #[derive(serde::Deserialize)]
                struct Line {
                    counter: i32,
                    stdout: String,
                }
                match event {
                    "line" => {
                        if let Ok(l) = serde_json::from_str::<Line>(&text)
                            && l.counter > last.get()
                        {
                            last.set(l.counter);
                            more.update(|m| m.push(l.stdout));
                        }
                        true
                    }
                    _ => match serde_json::from_str::<JobStatusEvent>(&text) {
                        Ok(u) if finished(&u.status) => {
                            status.set(u.status);
                            // Read the job again: sizes, archive, end time and the whole log.
                            version.update(|v| *v += 1);
                            false
                        }
                        Ok(u) => {
                            status.set(u.status);
                            true
                        }
                        Err(_) => true,
                    },
                }
            },
        );
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = version;
    let cut = view.total_lines > view.lines.len() as u64;
    let initial = view.lines.join("\n");
    let log = move || {
        more.with(|m| {
            if m.is_empty() {
                initial.clone()
            } else if initial.is_empty() {
                m.join("\n")
            } else {
                format!("{initial}\n{}", m.join("\n"))
            }
        })
    };
    let s = job.summary_fields.clone();
    let title = format!("#{id} {}", job.name);
    let rows: Vec<(&str, AnyView)> = vec![
        ("Type", job.job_type.clone().into_any()),
        ("Launched", job.launch_type.clone().into_any()),
        (
            "Policy",
            s.policy
                .map(|p| p.name)
                .unwrap_or_else(|| "—".into())
                .into_any(),
        ),
        (
            "Client",
            s.client
                .map(|c| c.hostname)
                .unwrap_or_else(|| "—".into())
                .into_any(),
        ),
        (
            "Repository",
            s.repository
                .map(|r| r.name)
                .unwrap_or_else(|| "—".into())
                .into_any(),
        ),
        ("Archive", job.archive_name.clone().into_any()),
        ("Started", when(job.started).into_any()),
        ("Finished", when(job.finished).into_any()),
        ("Elapsed", elapsed(job.elapsed).into_any()),
        (
            "Sizes",
            format!(
                "{} read, {} compressed, {} added",
                bytes(job.original_size),
                bytes(job.compressed_size),
                bytes(job.deduplicated_size)
            )
            .into_any(),
        ),
        ("Explanation", job.job_explanation.clone().into_any()),
    ];
    view! {
        <Title text=format!("Job {title} — CyBorgBackup")/>
        <p><a href="/jobs">"← All jobs"</a></p>
        <h1 id="job-title">{title}</h1>
        <p>
            "Status: "
            <span id="job-status" class=move || format!("status status-{}", status.get())>
                {move || status.get()}
            </span>
        </p>
        <JobButtons id status/>
        <dl class="job-fields">
            {rows
                .into_iter()
                .map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> })
                .collect_view()}
        </dl>
        <h2>"Log"</h2>
        {cut.then(|| view! {
            <p class="muted">
                {format!("The last {} of {} lines. ", view.lines.len(), view.total_lines)}
                <a href=format!("/api/v1/jobs/{id}/stdout/?format=txt")>"The whole log"</a>
            </p>
        })}
        <pre id="job-log" class="log" aria-live="polite">{log}</pre>
    }
    .into_any()
}

/// Cancel while the job can still change, Relaunch once it is over; a refusal is shown.
#[component]
fn JobButtons(id: i32, status: RwSignal<String>) -> impl IntoView {
    let navigate = use_navigate();
    let cancel = Action::new(move |id: &i32| cancel_job(*id));
    let relaunch = Action::new(move |id: &i32| relaunch_job(*id));
    let message = RwSignal::new(String::new());
    let answered = move |r: Option<Result<JobOutcome, RpcError>>, go: bool| match r {
        Some(Ok(JobOutcome::Show(job))) if go => {
            navigate(&format!("/jobs/{job}"), Default::default())
        }
        Some(Ok(JobOutcome::Show(_))) => message.set(String::new()),
        Some(Ok(JobOutcome::Refused(m))) => message.set(m),
        Some(Err(e)) => message.set(error_text(&e)),
        None => {}
    };
    let after_relaunch = answered.clone();
    Effect::new(move |_| answered(cancel.value().get(), false));
    Effect::new(move |_| after_relaunch(relaunch.value().get(), true));
    view! {
        <div class="buttons">
            <Show
                when=move || finished(&status.get())
                fallback=move || view! {
                    <button
                        type="button"
                        class="danger"
                        id="job-cancel"
                        disabled=move || cancel.pending().get()
                        on:click=move |_| { cancel.dispatch(id); }
                    >
                        "Cancel"
                    </button>
                }
            >
                <button
                    type="button"
                    id="job-relaunch"
                    disabled=move || relaunch.pending().get()
                    on:click=move |_| { relaunch.dispatch(id); }
                >
                    "Relaunch"
                </button>
            </Show>
        </div>
        <p class="form-error" id="job-message" role="alert">{move || message.get()}</p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_links_keep_the_filters() {
        let f = JobFilter {
            status: "running".into(),
            policy: "3".into(),
            ..Default::default()
        };
        assert_eq!(f.href(1), "/jobs?status=running&policy=3");
        assert_eq!(f.href(2), "/jobs?status=running&policy=3&page=2");
        assert_eq!(JobFilter::default().href(1), "/jobs");
    }

    #[test]
    fn elapsed_reads_in_units() {
        assert_eq!(elapsed(4.4), "4s");
        assert_eq!(elapsed(75.0), "1m 15s");
        assert_eq!(elapsed(3725.0), "1h 02m 05s");
    }
}
