//! `/calendar`: a month grid of every enabled policy's runs, one colour per policy with a
//! legend, previous/next month and today, a count badge per day, conflicts (runs on one
//! repository less than a minute apart) flagged, and a day's runs listed when it is picked.
//! The state is in the address (`?month=YYYY-MM&day=D`): every day is a link, so the grid works
//! from the keyboard (Tab, Enter; with JavaScript also the arrow keys) and without JavaScript,
//! and a picked day can be bookmarked.
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{error_text, month_grid};
use crate::{
    display::{WEEKDAYS, clock},
    dto::{CalendarMonth, MonthDay},
};

/// Colours of the legend; a policy gets `COLOURS[index % COLOURS.len()]` (as `class="cN"`).
const COLOURS: usize = 10;
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// Policies a day cell shows as coloured chips (the badge counts them all).
const CHIPS: usize = 3;

/// `YYYY-MM` moved by `delta` months; `None` for text that is not a month.
pub fn shift_month(month: &str, delta: i32) -> Option<String> {
    let (y, m) = month.split_once('-')?;
    let (y, m) = (y.parse::<i32>().ok()?, m.parse::<i32>().ok()?);
    if !(1..=12).contains(&m) {
        return None;
    }
    let index = y * 12 + (m - 1) + delta;
    Some(format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    ))
}

/// "January 2030" for `2030-01`.
fn month_title(month: &str) -> String {
    month
        .split_once('-')
        .and_then(|(y, m)| {
            let m = m.parse::<usize>().ok()?;
            Some(format!("{} {y}", MONTHS.get(m.checked_sub(1)?)?))
        })
        .unwrap_or_else(|| month.to_string())
}

fn colour(policy: usize) -> String {
    format!("c{}", policy % COLOURS)
}

#[component]
pub fn CalendarPage() -> impl IntoView {
    let query = use_query_map();
    let month = move || query.with(|q| q.get("month").unwrap_or_default());
    let day = move || query.with(|q| q.get("day").and_then(|d| d.parse::<u32>().ok()));
    // `?policy=ID`: that policy's own calendar.
    let policy = move || query.with(|q| q.get("policy").and_then(|p| p.parse::<i32>().ok()));
    let data = Resource::new(move || (month(), policy()), |(m, p)| month_grid(m, p));
    view! {
        <Title text="Calendar — CyBorgBackup"/>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let focus = policy();
                match data.await {
                    Ok(m) => {
                        let heading = match (focus, m.policies.first()) {
                            (Some(_), Some(p)) => format!("Calendar of the policy {}", p.name),
                            (Some(_), None) => "Calendar of a policy without runs".to_string(),
                            (None, _) => "Calendar".to_string(),
                        };
                        view! {
                            <h1 id="calendar-title">{heading}</h1>
                            {focus.map(|_| view! { <p><a href="/calendar">"All policies"</a></p> })}
                            <MonthView m=m selected=day() policy=focus/>
                        }
                        .into_any()
                    }
                    Err(e) => view! {
                        <h1>"Calendar"</h1>
                        <p class="form-error" role="alert">{error_text(&e)}</p>
                    }
                    .into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

#[component]
fn MonthView(m: CalendarMonth, selected: Option<u32>, policy: Option<i32>) -> impl IntoView {
    let focus = policy.map(|p| format!("&policy={p}")).unwrap_or_default();
    let href = |month: &str, day: Option<u32>| match day {
        Some(d) => format!("/calendar?month={month}&day={d}{focus}"),
        None => format!("/calendar?month={month}{focus}"),
    };
    let today_href = policy
        .map(|p| format!("/calendar?policy={p}"))
        .unwrap_or_else(|| "/calendar".into());
    let previous = shift_month(&m.month, -1).map(|p| href(&p, None));
    let next = shift_month(&m.month, 1).map(|n| href(&n, None));
    let title = month_title(&m.month);
    let selected_day = selected.and_then(|d| m.days.get(d.checked_sub(1)? as usize).cloned());
    let blanks =
        (0..m.first_weekday).map(|_| view! { <div class="cal-blank" aria-hidden="true"></div> });
    let names: Vec<String> = m.policies.iter().map(|p| p.name.clone()).collect();
    let cells = m
        .days
        .iter()
        .map(|d| {
            view! {
                <DayCell
                    d=d.clone()
                    href=href(&m.month, Some(d.day))
                    today=m.today == Some(d.day)
                    selected=selected == Some(d.day)
                    title=title.clone()
                    names=names.clone()
                />
            }
        })
        .collect_view();
    let policies = m.policies.clone();
    let days = m.days.len() as i64;
    view! {
        <nav class="month-nav" aria-label="Months">
            {previous.map(|h| view! { <a href=h id="month-previous">"← Previous"</a> })}
            <h2 id="month-title">{title.clone()}</h2>
            {next.map(|h| view! { <a href=h id="month-next">"Next →"</a> })}
            <a href=today_href id="month-today">"Today"</a>
        </nav>
        <ul class="legend" id="legend" aria-label="Policies">
            {if m.policies.is_empty() {
                view! { <li class="muted">"No enabled policy."</li> }.into_any()
            } else {
                m.policies
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        view! {
                            <li>
                                <span class=format!("swatch {}", colour(i)) aria-hidden="true"></span>
                                {p.name.clone()}
                                <span class="muted">{format!(" {} · {}", p.policy_type, p.schedule_name)}</span>
                            </li>
                        }
                    })
                    .collect_view()
                    .into_any()
            }}
        </ul>
        <div class="cal-wrap">
            <div class="cal-grid" id="calendar-grid" on:keydown=move |ev| move_focus(&ev, days)>
                {WEEKDAYS
                    .iter()
                    .map(|w| view! { <div class="cal-head" aria-hidden="true">{*w}</div> })
                    .collect_view()}
                {blanks.collect_view()}
                {cells}
            </div>
        </div>
        {selected_day.map(|d| view! { <DayRuns d=d policies=policies title=title.clone()/> })}
    }
    .into_any()
}

/// Arrow keys move between the days of the grid (left/right a day, up/down a week), as in a
/// date picker; Tab still walks the days in order and Enter opens one.
fn move_focus(ev: &leptos::ev::KeyboardEvent, days: i64) {
    use leptos::wasm_bindgen::JsCast;
    let step = match ev.key().as_str() {
        "ArrowLeft" => -1,
        "ArrowRight" => 1,
        "ArrowUp" => -7,
        "ArrowDown" => 7,
        _ => return,
    };
    let Some(day) = ev
        .target()
        .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
        .and_then(|e| e.get_attribute("data-day"))
        .and_then(|d| d.parse::<i64>().ok())
    else {
        return;
    };
    let to = (day + step).clamp(1, days);
    if let Ok(Some(cell)) =
        document().query_selector(&format!("#calendar-grid a[data-day=\"{to}\"]"))
        && let Ok(cell) = cell.dyn_into::<leptos::web_sys::HtmlElement>()
    {
        ev.prevent_default();
        let _ = cell.focus();
    }
}

#[component]
fn DayCell(
    d: MonthDay,
    href: String,
    today: bool,
    selected: bool,
    title: String,
    /// The month's policy names, by the index `per_policy` counts in.
    names: Vec<String>,
) -> impl IntoView {
    let mut busiest: Vec<(usize, u64)> = d
        .per_policy
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, n)| *n > 0)
        .collect();
    busiest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let hidden = busiest.len().saturating_sub(CHIPS);
    let name = move |i: usize| names.get(i).cloned().unwrap_or_default();
    // The chips' colours name no policy for a screen reader or a colour-blind eye: the link's
    // label and each chip's title do.
    let named: Vec<String> = busiest
        .iter()
        .map(|(i, n)| format!("{} {n}", name(*i)))
        .collect();
    let label = format!(
        "{} {}: {} run{}{}{}",
        d.day,
        title,
        d.total,
        if d.total == 1 { "" } else { "s" },
        if named.is_empty() {
            String::new()
        } else {
            format!(" ({})", named.join(", "))
        },
        match d.conflicts {
            0 => String::new(),
            n => format!(", {n} in conflict"),
        }
    );
    let conflict = d.conflicts > 0;
    view! {
        <a
            class="cal-day"
            class:today=today
            class:selected=selected
            class:has-conflict=conflict
            href=href
            data-day=d.day
            aria-label=label
            aria-current=if selected { Some("date") } else { None }
        >
            <span class="num">{d.day}</span>
            {(d.total > 0).then(|| view! { <span class="badge" data-total=d.total>{d.total}</span> })}
            {(d.conflicts > 0).then(|| view! { <span class="conflict-mark" title="Conflict">"⚠"</span> })}
            <span class="chips">
                {busiest
                    .into_iter()
                    .take(CHIPS)
                    .map(|(i, n)| {
                        let what = format!("{}: {n} run{}", name(i), if n == 1 { "" } else { "s" });
                        view! { <span class=format!("chip {}", colour(i)) title=what>{n}</span> }
                    })
                    .collect_view()}
                {(hidden > 0).then(|| view! { <span class="chip more">{format!("+{hidden}")}</span> })}
            </span>
        </a>
    }
}

#[component]
fn DayRuns(d: MonthDay, policies: Vec<crate::dto::MonthPolicy>, title: String) -> impl IntoView {
    let more = d.total.saturating_sub(d.runs.len() as u64);
    view! {
        <section class="card day-runs" aria-labelledby="day-title" id="day-runs">
            <h2 id="day-title">{format!("{} {}: {} runs", d.day, title, d.total)}</h2>
            {(d.conflicts > 0).then(|| view! {
                <p class="form-error" id="day-conflicts">
                    {format!(
                        "{} runs in conflict: another policy on the same repository runs less than a minute apart.",
                        d.conflicts
                    )}
                </p>
            })}
            <ol class="runs">
                {d.runs
                    .into_iter()
                    .map(|r| {
                        let p = policies.get(r.policy);
                        view! {
                            <li class:conflict=r.conflict>
                                <time datetime=r.at.to_rfc3339()>{clock(&r.at)}</time>
                                " "
                                <span class=format!("swatch {}", colour(r.policy)) aria-hidden="true"></span>
                                <span class="policy">{p.map(|p| p.name.clone()).unwrap_or_default()}</span>
                                {r.conflict.then(|| view! { <span class="conflict-flag">" conflict"</span> })}
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
            {(more > 0).then(|| view! { <p class="muted" id="day-more">{format!("and {more} more")}</p> })}
        </section>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_shift_across_years() {
        assert_eq!(shift_month("2030-01", -1).as_deref(), Some("2029-12"));
        assert_eq!(shift_month("2030-12", 1).as_deref(), Some("2031-01"));
        assert_eq!(shift_month("2030-05", 0).as_deref(), Some("2030-05"));
        assert_eq!(shift_month("2030-13", 1), None);
        assert_eq!(shift_month("soon", 1), None);
        assert_eq!(month_title("2030-01"), "January 2030");
    }
}
