//! Issue 3 targets: the calendar of an every-minute schedule for a 31-day month (44,640 runs) in
//! ≤ 20 ms, and next_run for 10,000 policies in ≤ 50 ms.
//! Run: `cargo bench -p server --bench crontab`.
use chrono::{DateTime, Utc};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use cyborg_core::crontab::Crontab;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// 10,000 different crontab strings, as if every policy had a schedule of its own.
fn distinct_crontabs() -> Vec<String> {
    let days = [
        "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN", "MON-FRI", "*", "1,3,5",
    ];
    (0..10_000)
        .map(|i| {
            format!(
                "{} {} {} * {} *",
                i % 60,
                (i / 60) % 24,
                if i % 7 == 0 { "1-15" } else { "*" },
                days[i % days.len()]
            )
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let every_minute = Crontab::parse("*/1 * * * * *").unwrap();
    let (from, to) = (at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z"));
    assert_eq!(every_minute.runs_between(from, to).len(), 44_640);
    c.bench_function("calendar: every minute, 31-day month (44,640 runs)", |b| {
        b.iter(|| black_box(every_minute.runs_between(black_box(from), black_box(to))))
    });

    let texts = distinct_crontabs();
    let now = at("2026-11-27T13:37:00Z");
    c.bench_function(
        "next_run: 10,000 policies, distinct crontabs, parse + next",
        |b| {
            b.iter(|| {
                texts
                    .iter()
                    .filter_map(|t| Crontab::parse(t).ok()?.next_after(black_box(now)))
                    .count()
            })
        },
    );

    // The common fleet shape: many policies share few schedules, each parsed once (what
    // `policies::refresh_next_runs` and the scheduler do).
    c.bench_function(
        "next_run: 10,000 policies on 100 schedules, parse once per schedule",
        |b| {
            b.iter(|| {
                let schedules: Vec<Crontab> = texts[..100]
                    .iter()
                    .map(|t| Crontab::parse(t).unwrap())
                    .collect();
                (0..10_000)
                    .filter_map(|i| schedules[i % 100].next_after(black_box(now)))
                    .count()
            })
        },
    );

    let parsed: Vec<Crontab> = texts.iter().map(|t| Crontab::parse(t).unwrap()).collect();
    c.bench_function("next_run: 10,000 policies, crontabs already parsed", |b| {
        b.iter(|| {
            parsed
                .iter()
                .filter_map(|c| c.next_after(black_box(now)))
                .count()
        })
    });
}

criterion_group! {
    name = crontab;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(crontab);
