//! `/`: counts, the 30-day chart, the next runs and the last jobs (kept live in the browser by
//! the server-sent events of `/api/v1/jobs/stream/`).
use chrono::{DateTime, Utc};
use leptos::prelude::*;

use super::RpcError;
use leptos_meta::Title;

use super::{CopyButton, chart::StatsChart, error_text, overview_data};
use crate::{
    display::minute,
    dto::{HealthRow, Job, NextRun, Overview},
};

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| minute(&t)).unwrap_or_else(|| "—".to_string())
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| overview_data());
    view! {
        <Title text="Overview — CyBorgBackup"/>
        <h1>"Overview"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => view! { <OverviewBody o=o data=data/> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }
                        .into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn OverviewBody(o: Overview, data: Resource<Result<Overview, RpcError>>) -> impl IntoView {
    let counts = [
        ("count-clients", "Clients", o.clients, "/clients"),
        ("count-policies", "Policies", o.policies, "/policies"),
        (
            "count-repositories",
            "Repositories",
            o.repositories,
            "/repositories",
        ),
        ("count-running", "Jobs running", o.jobs_running, "/jobs"),
        ("count-failed", "Failed in 24 h", o.jobs_failed_24h, "/jobs"),
        ("count-late", "Late", o.health.late, "/alerts"),
        ("count-failing", "Failing", o.health.failing, "/alerts"),
    ];
    let steps = o.first_steps();
    let first_steps = steps
        .iter()
        .any(|(_, _, done)| !done)
        .then(|| view! { <FirstSteps steps=steps authorized_keys=o.authorized_keys.clone()/> });
    let attention =
        (!o.attention.is_empty()).then(|| view! { <Attention rows=o.attention.clone()/> });
    view! {
        <section aria-labelledby="counts-title">
            <h2 id="counts-title" class="visually-hidden">"Counts"</h2>
            <dl class="counts">
                {counts
                    .into_iter()
                    .map(|(id, label, n, href)| {
                        let alert = matches!(id, "count-failed" | "count-late" | "count-failing")
                            && n > 0;
                        view! {
                            <div class="count" class:alert=alert>
                                <dt>{label}</dt>
                                <dd><a id=id href=href>{n}</a></dd>
                            </div>
                        }
                    })
                    .collect_view()}
            </dl>
        </section>
        {attention}
        {first_steps}
        <section aria-labelledby="chart-title">
            <h2 id="chart-title">"Last 30 days"</h2>
            <StatsChart days=o.stats/>
        </section>
        <div class="columns">
            <section aria-labelledby="next-title">
                <h2 id="next-title">"Next runs"</h2>
                <NextRuns runs=o.next_runs/>
            </section>
            <section aria-labelledby="jobs-title">
                <h2 id="jobs-title">"Last jobs"</h2>
                <LastJobs jobs=o.last_jobs data=data/>
            </section>
        </div>
    }
    .into_any()
}

/// The late and failing policy × client pairs, worst first, in red, with why and the last job.
#[component]
fn Attention(rows: Vec<HealthRow>) -> impl IntoView {
    view! {
        <section aria-labelledby="attention-title" class="attention">
            <h2 id="attention-title">"Needs attention"</h2>
            <div class="table-wrap">
                <table id="attention">
                    <thead>
                        <tr>
                            <th scope="col">"Policy"</th>
                            <th scope="col">"Client"</th>
                            <th scope="col">"State"</th>
                            <th scope="col">"Why"</th>
                            <th scope="col">"Last job"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {rows
                            .into_iter()
                            .map(|r| {
                                let job = r.last_attempt_job.map(|id| {
                                    view! { <a href=format!("/jobs/{id}")>{format!("#{id}")}</a> }
                                });
                                let class = format!("health-row health-{}", r.state);
                                view! {
                                    <tr class=class>
                                        <td>{r.policy_name}</td>
                                        <td>{r.client_hostname}</td>
                                        <td><span class="status status-failed">{r.state}</span></td>
                                        <td>{r.reason}</td>
                                        <td>{job}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

/// A new installation's way to its first backup: each step links to its page and is ticked
/// once done; the client step shows the line to authorize on the client.
#[component]
fn FirstSteps(
    steps: [(&'static str, &'static str, bool); 5],
    authorized_keys: Option<String>,
) -> impl IntoView {
    view! {
        <section aria-labelledby="first-steps-title" class="first-steps">
            <h2 id="first-steps-title">"First steps"</h2>
            <ol id="first-steps">
                {steps
                    .into_iter()
                    .enumerate()
                    .map(|(i, (label, href, done))| {
                        let key = (i == 0)
                            .then(|| authorized_keys.clone())
                            .flatten()
                            .map(|line| {
                                view! {
                                    <p class="muted">
                                        "On the client, add this line to the backup user's "
                                        <code>"~/.ssh/authorized_keys"</code>":"
                                    </p>
                                    <pre class="key-line" id="first-steps-key">{line.clone()}</pre>
                                    <CopyButton text=line/>
                                }
                            });
                        view! {
                            <li class:done=done data-done=done.to_string()>
                                <span class="step-mark" aria-hidden="true">
                                    {if done { "✓" } else { "○" }}
                                </span>
                                <a href=href>{label}</a>
                                {done.then(|| view! { <span class="visually-hidden">" (done)"</span> })}
                                {key}
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
        </section>
    }
}

#[component]
fn NextRuns(runs: Vec<NextRun>) -> impl IntoView {
    if runs.is_empty() {
        return view! { <p class="empty" id="next-runs">"No enabled policy has a coming run."</p> }
            .into_any();
    }
    view! {
        <ol class="runs" id="next-runs">
            {runs
                .into_iter()
                .map(|r| {
                    view! {
                        <li>
                            <time datetime=r.at.to_rfc3339()>{when(Some(r.at))}</time>
                            " "
                            <span class="policy">{r.policy_name}</span>
                            " "
                            <span class="muted">{format!("{} · {}", r.policy_type, r.schedule_name)}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
    .into_any()
}

/// The newest jobs. In the browser an `EventSource` on `/api/v1/jobs/stream/` (the session
/// cookie authenticates it) updates a row's status as it changes; a job not in the list yet
/// reloads the overview, so the counts follow too.
#[component]
fn LastJobs(jobs: Vec<Job>, data: Resource<Result<Overview, RpcError>>) -> impl IntoView {
    let jobs = RwSignal::new(jobs);
    #[cfg(feature = "hydrate")]
    follow_jobs(jobs, data);
    #[cfg(not(feature = "hydrate"))]
    let _ = data;
    view! {
        <div class="table-wrap">
            <table class="jobs" id="last-jobs">
                <thead>
                    <tr>
                        <th scope="col">"Job"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Finished"</th>
                    </tr>
                </thead>
                <tbody>
                    <Show
                        when=move || jobs.with(|j| !j.is_empty())
                        fallback=|| view! { <tr><td colspan="3" class="empty">"No jobs yet."</td></tr> }
                    >
                        <For each=move || jobs.get() key=|j| (j.id, j.status.clone()) let:j>
                            <tr data-job-id=j.id>
                                <td>
                                    <span class="job-name">{format!("#{} {}", j.id, j.name)}</span>
                                    <span class="muted job-type">{j.job_type.clone()}</span>
                                </td>
                                <td>
                                    <span class=format!("status status-{}", j.status)>
                                        {j.status.clone()}
                                    </span>
                                </td>
                                <td>{when(j.finished)}</td>
                            </tr>
                        </For>
                    </Show>
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[cfg(feature = "hydrate")]
fn follow_jobs(jobs: RwSignal<Vec<Job>>, data: Resource<Result<Overview, RpcError>>) {
    use crate::dto::JobStatusEvent;

    super::live::follow_events(
        "/api/v1/jobs/stream/".into(),
        &["status"],
        move |_, text| {
            let Ok(update) = serde_json::from_str::<JobStatusEvent>(&text) else {
                return true;
            };
            let known = jobs
                .try_update(|list| {
                    let mut known = false;
                    for j in list.iter_mut().filter(|j| j.id == update.job) {
                        j.status = update.status.clone();
                        j.failed = update.failed;
                        j.started = update.started;
                        j.finished = update.finished;
                        known = true;
                    }
                    known
                })
                .unwrap_or(true);
            if !known {
                data.refetch();
            }
            true
        },
    );
}
