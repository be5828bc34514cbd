//! The overview's 30-day chart, drawn as SVG by the app: per day a bar of successful jobs and
//! one of failed jobs (left scale), and lines of the bytes read and added (right scale).
use leptos::prelude::*;

use crate::{
    display::{bytes, tenths},
    dto::StatsDay,
};

const W: f64 = 600.0;
const H: f64 = 220.0;
const LEFT: f64 = 34.0;
const RIGHT: f64 = 64.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

#[component]
pub fn StatsChart(days: Vec<StatsDay>) -> impl IntoView {
    let n = days.len().max(1) as f64;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / n;
    let most_jobs = days
        .iter()
        .map(|d| d.success.max(d.failed))
        .max()
        .unwrap_or(0)
        .max(1);
    let max_count = most_jobs as f64;
    let most_bytes = days
        .iter()
        .map(|d| d.size.max(d.dedup))
        .max()
        .unwrap_or(0)
        .max(1);
    let max_size = most_bytes as f64;
    let y_count = move |c: i64| TOP + plot_h - (c as f64 / max_count) * plot_h;
    let y_size = move |s: i64| TOP + plot_h - (s as f64 / max_size) * plot_h;
    let line = |pick: fn(&StatsDay) -> i64| {
        days.iter()
            .enumerate()
            .map(|(i, d)| {
                format!(
                    "{},{}",
                    tenths(LEFT + slot * (i as f64 + 0.5)),
                    tenths(y_size(pick(d)))
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let size_line = line(|d| d.size);
    let dedup_line = line(|d| d.dedup);
    let total_ok: i64 = days.iter().map(|d| d.success).sum();
    let total_failed: i64 = days.iter().map(|d| d.failed).sum();
    let first = days.first().map(|d| d.date.clone()).unwrap_or_default();
    let last = days.last().map(|d| d.date.clone()).unwrap_or_default();
    let bar_w = (slot * 0.38).max(1.0);
    let groups = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let x = LEFT + slot * i as f64 + slot * 0.1;
            let ys = y_count(d.success);
            let yf = y_count(d.failed);
            let base = TOP + plot_h;
            let tip = format!(
                "{}: {} successful, {} failed, {} read, {} added",
                d.date,
                d.success,
                d.failed,
                bytes(d.size),
                bytes(d.dedup)
            );
            view! {
                <g class="day" data-date=d.date.clone()>
                    <title>{tip}</title>
                    <rect class="bar-ok" x=tenths(x) y=tenths(ys)
                        width=tenths(bar_w) height=tenths(base - ys)/>
                    <rect class="bar-failed" x=tenths(x + bar_w) y=tenths(yf)
                        width=tenths(bar_w) height=tenths(base - yf)/>
                </g>
            }
        })
        .collect_view();
    let base = TOP + plot_h;
    let label = format!(
        "Last {} days from {first} to {last}: {total_ok} successful and {total_failed} failed jobs",
        days.len()
    );
    view! {
        <figure class="chart">
            <svg
                id="stats-chart"
                viewBox=format!("0 0 {} {}", tenths(W), tenths(H))
                role="img"
                aria-label=label.clone()
            >
                <line class="axis" x1=tenths(LEFT) y1=tenths(base)
                    x2=tenths(W - RIGHT) y2=tenths(base)/>
                <text class="tick" x=tenths(LEFT - 4.0) y=tenths(TOP + 8.0)
                    text-anchor="end">
                    {most_jobs.to_string()}
                </text>
                <text class="tick" x=tenths(LEFT - 4.0) y=tenths(base)
                    text-anchor="end">"0"</text>
                <text class="tick" x=tenths(W - RIGHT + 4.0) y=tenths(TOP + 8.0)>
                    {bytes(most_bytes)}
                </text>
                <text class="tick" x=tenths(LEFT) y=tenths(H - 6.0)>{first.clone()}</text>
                <text class="tick" x=tenths(W - RIGHT) y=tenths(H - 6.0)
                    text-anchor="end">{last.clone()}</text>
                <g class="days">{groups}</g>
                <polyline class="line-size" points=size_line/>
                <polyline class="line-dedup" points=dedup_line/>
            </svg>
            <figcaption>
                <span class="key key-ok">"successful jobs"</span>
                <span class="key key-failed">"failed jobs"</span>
                <span class="key key-size">"bytes read"</span>
                <span class="key key-dedup">"bytes added"</span>
            </figcaption>
        </figure>
    }
    .into_any()
}
