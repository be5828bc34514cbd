use std::str::FromStr;

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc, Weekday};
use cron::TimeUnitSpec;
use proptest::prelude::*;

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad test instant {s}: {e}"))
        .with_timezone(&Utc)
}

fn ct(s: &str) -> Crontab {
    Crontab::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn err(s: &str) -> CrontabError {
    match Crontab::parse(s) {
        Ok(c) => panic!("{s:?} should not parse, got {c:?}"),
        Err(e) => e,
    }
}

fn values(set: &FieldSet) -> Vec<u32> {
    set.iter().collect()
}

/// The cron crate's own answer for `[from, to)`, without this module's filter.
fn cron_runs(c: &Crontab, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let schedule = cron::Schedule::from_str(&c.to_cron_expression()).expect("cron parses");
    schedule
        .after(&(from - TimeDelta::seconds(1)))
        .take_while(|t| *t < to)
        .collect()
}

// ---------------------------------------------------------------- parsing, field by field

#[test]
fn every_minute_seed_example() {
    let c = ct("*/1 * * * * *");
    assert!(c.minutes().is_full() && c.hours().is_full() && c.years().is_full());
    assert_eq!(
        c.next_after(at("2026-05-01T10:00:30Z")),
        Some(at("2026-05-01T10:01:00Z"))
    );
    assert_eq!(
        c.next_after(at("2026-05-01T10:00:00Z")),
        Some(at("2026-05-01T10:01:00Z"))
    );
    assert_eq!(
        c.next_after(at("2026-05-01T09:59:59.9Z")),
        Some(at("2026-05-01T10:00:00Z"))
    );
    assert_eq!(
        c.runs_between(at("2026-05-01T10:00:00Z"), at("2026-05-01T10:03:00Z")),
        vec![
            at("2026-05-01T10:00:00Z"),
            at("2026-05-01T10:01:00Z"),
            at("2026-05-01T10:02:00Z")
        ]
    );
}

#[test]
fn mondays_at_five_seed_example() {
    let c = ct("0 5 * * MON *");
    // 2026-05-01 is a Friday.
    let next = c.next_after(at("2026-05-01T00:00:00Z"));
    assert_eq!(next, Some(at("2026-05-04T05:00:00Z")));
    assert_eq!(next.map(|t| t.weekday()), Some(Weekday::Mon));
    assert_eq!(
        c.next_after(at("2026-05-04T05:00:00Z")),
        Some(at("2026-05-11T05:00:00Z"))
    );
    assert_eq!(values(c.days_of_week()), vec![1]);
}

#[test]
fn five_fields_mean_any_year() {
    assert_eq!(ct("0 5 * * MON"), ct("0 5 * * MON *"));
    assert!(ct("0 5 * * MON").years().is_full());
    assert_eq!(values(ct("* * * * *").years()).len(), 130);
}

#[test]
fn whitespace_between_and_around_fields_is_fine() {
    assert_eq!(ct("  0\t5  * *   MON  * \n"), ct("0 5 * * MON *"));
    assert_eq!(ct("\t*/15 * * * *\t"), ct("*/15 * * * *"));
}

#[test]
fn names_in_any_case() {
    let c = ct("0 0 * jan,Feb,MAR mon,Tue,wED");
    assert_eq!(values(c.months()), vec![1, 2, 3]);
    assert_eq!(values(c.days_of_week()), vec![1, 2, 3]);
    assert_eq!(ct("0 0 * * mon-fri"), ct("0 0 * * MON-FRI"));
    assert_eq!(ct("0 0 * Jun-aug *"), ct("0 0 * 6-8 *"));
    assert_eq!(
        values(ct("0 0 * JAN,FEB,MAR,APR,MAY,JUN,JUL,AUG,SEP,OCT,NOV,DEC *").months()).len(),
        12
    );
    assert_eq!(
        values(ct("0 0 * * MON,TUE,WED,THU,FRI,SAT,SUN").days_of_week()),
        vec![1, 2, 3, 4, 5, 6, 7]
    );
}

#[test]
fn zero_and_seven_are_both_sunday() {
    let sunday = ct("0 0 * * 0");
    for s in ["0 0 * * 7", "0 0 * * SUN", "0 0 * * sun", "0 0 * * 0,7"] {
        assert_eq!(ct(s), sunday, "{s}");
    }
    assert_eq!(values(sunday.days_of_week()), vec![7]);
    // 2026-05-03 is a Sunday.
    assert_eq!(
        sunday.next_after(at("2026-05-01T00:00:00Z")),
        Some(at("2026-05-03T00:00:00Z"))
    );
}

#[test]
fn ranges_touching_sunday_run_forwards() {
    assert_eq!(values(ct("0 0 * * SUN-TUE").days_of_week()), vec![1, 2, 7]);
    assert_eq!(values(ct("0 0 * * 7-2").days_of_week()), vec![1, 2, 7]);
    assert_eq!(values(ct("0 0 * * FRI-SUN").days_of_week()), vec![5, 6, 7]);
    assert_eq!(values(ct("0 0 * * 5-0").days_of_week()), vec![5, 6, 7]);
    for full in ["0-6", "1-7", "0-7", "SUN-SAT", "MON-SUN"] {
        assert!(
            ct(&format!("0 0 * * {full}")).days_of_week().is_full(),
            "{full}"
        );
    }
}

#[test]
fn lists_ranges_and_steps() {
    let minutes = |f: &str| values(ct(&format!("{f} * * * *")).minutes());
    assert_eq!(minutes("1,2,5"), vec![1, 2, 5]);
    assert_eq!(minutes("1-5"), vec![1, 2, 3, 4, 5]);
    assert_eq!(minutes("*/15"), vec![0, 15, 30, 45]);
    assert_eq!(minutes("10-50/10"), vec![10, 20, 30, 40, 50]);
    assert_eq!(minutes("5/10"), vec![5, 15, 25, 35, 45, 55]);
    assert_eq!(minutes("1,1,1-2"), vec![1, 2]);
    assert_eq!(minutes("59,0"), vec![0, 59]);
    assert_eq!(minutes("*/60"), vec![0]);
    assert_eq!(minutes("*/1"), (0..60).collect::<Vec<_>>());

    assert_eq!(values(ct("0 5/10 * * *").hours()), vec![5, 15]);
    assert_eq!(
        values(ct("0 0 */10 * *").days_of_month()),
        vec![1, 11, 21, 31]
    );
    assert_eq!(values(ct("0 0 * */3 *").months()), vec![1, 4, 7, 10]);
    assert_eq!(values(ct("0 0 * FEB/5 *").months()), vec![2, 7, 12]);
    assert_eq!(values(ct("0 0 * * */2").days_of_week()), vec![1, 3, 5, 7]);
    assert_eq!(values(ct("0 0 * * 0/2").days_of_week()), vec![2, 4, 6, 7]);
    assert_eq!(
        values(ct("0 0 * * MON-FRI").days_of_week()),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        values(ct("0 0 * * MON-FRI/2").days_of_week()),
        vec![1, 3, 5]
    );

    assert_eq!(values(ct("0 0 * * * 2027").years()), vec![2027]);
    assert_eq!(values(ct("0 0 * * * 2027,2029").years()), vec![2027, 2029]);
    assert_eq!(
        values(ct("0 0 * * * 2026-2030/2").years()),
        vec![2026, 2028, 2030]
    );
    assert_eq!(values(ct("0 0 * * * 2090/5").years()), vec![2090, 2095]);
    assert_eq!(values(ct("0 0 * * * */50").years()), vec![1970, 2020, 2070]);
    assert_eq!(values(ct("0 0 * * * 1970,2099").years()), vec![1970, 2099]);
}

#[test]
fn restriction_flags_follow_the_sets() {
    let c = ct("0 0 13 * FRI");
    assert!(c.day_of_month_restricted() && c.day_of_week_restricted());
    let c = ct("0 0 * * *");
    assert!(!c.day_of_month_restricted() && !c.day_of_week_restricted());
    let c = ct("0 0 1-31 * 0-6");
    assert!(!c.day_of_month_restricted() && !c.day_of_week_restricted());
    let c = ct("0 0 1 * *");
    assert!(c.day_of_month_restricted() && !c.day_of_week_restricted());
}

// ---------------------------------------------------------------- errors

#[test]
fn errors_name_the_field_and_the_reason() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("* * * * FOO", Some("day-of-week"), "FOO is not a weekday"),
        (
            "* * * * MONDAY",
            Some("day-of-week"),
            "MONDAY is not a weekday",
        ),
        ("61 * * * *", Some("minute"), "61 is out of range 0-59"),
        ("* */0 * * *", Some("hour"), "step 0 is not allowed"),
        ("* 24 * * *", Some("hour"), "24 is out of range 0-23"),
        ("* * 0 * *", Some("day-of-month"), "0 is out of range 1-31"),
        (
            "* * 32 * *",
            Some("day-of-month"),
            "32 is out of range 1-31",
        ),
        ("* * * 13 *", Some("month"), "13 is out of range 1-12"),
        ("* * * 0 *", Some("month"), "0 is out of range 1-12"),
        ("* * * FOO *", Some("month"), "FOO is not a month"),
        ("* * * MON *", Some("month"), "MON is not a month"),
        ("* * * * JAN", Some("day-of-week"), "JAN is not a weekday"),
        ("* * * * 8", Some("day-of-week"), "8 is out of range 0-7"),
        (
            "* * * * * 1969",
            Some("year"),
            "1969 is out of range 1970-2099",
        ),
        (
            "* * * * * 2100",
            Some("year"),
            "2100 is out of range 1970-2099",
        ),
        (
            "* * * * * 2026-2100",
            Some("year"),
            "2100 is out of range 1970-2099",
        ),
        ("* * * * * x", Some("year"), "x is not a number"),
        ("MON * * * *", Some("minute"), "MON is not a number"),
        ("? * * * *", Some("minute"), "? is not a number"),
        (
            "99999999999 * * * *",
            Some("minute"),
            "99999999999 is out of range 0-59",
        ),
        (
            "5-1 * * * *",
            Some("minute"),
            "range 5-1 runs backwards (5 is after 1)",
        ),
        (
            "* * * * FRI-MON",
            Some("day-of-week"),
            "range FRI-MON runs backwards (5 is after 1)",
        ),
        ("1,,2 * * * *", Some("minute"), "empty item in list"),
        ("1, * * * *", Some("minute"), "empty item in list"),
        ("*/ * * * *", Some("minute"), "missing step after '/' in */"),
        ("*/x * * * *", Some("minute"), "step x is not a number"),
        ("*/2/3 * * * *", Some("minute"), "step 2/3 is not a number"),
        (
            "*/61 * * * *",
            Some("minute"),
            "step 61 is larger than the range 0-59",
        ),
        (
            "*/99999999999 * * * *",
            Some("minute"),
            "step 99999999999 is larger than the range 0-59",
        ),
        ("-5 * * * *", Some("minute"), "missing value in -5"),
        ("5- * * * *", Some("minute"), "missing value in 5-"),
        ("/5 * * * *", Some("minute"), "missing value in /5"),
        ("1-2-3 * * * *", Some("minute"), "2-3 is not a number"),
        ("* * * *", None, "expected 5 or 6 fields, found 4"),
        ("* * *", None, "expected 5 or 6 fields, found 3"),
        ("* * * * * * *", None, "expected 5 or 6 fields, found 7"),
        ("garbage", None, "expected 5 or 6 fields, found 1"),
        (
            "",
            None,
            "expected 5 or 6 fields, found 0 (the expression is empty)",
        ),
        (
            " \t\n ",
            None,
            "expected 5 or 6 fields, found 0 (the expression is empty)",
        ),
    ];
    for (input, field, message) in cases {
        let e = err(input);
        assert_eq!(
            (e.field, e.message.as_str()),
            (*field, *message),
            "{input:?}"
        );
        let shown = match field {
            Some(f) => format!("{f}: {message}"),
            None => message.to_string(),
        };
        assert_eq!(e.to_string(), shown);
    }
}

#[test]
fn error_is_a_std_error() {
    let e: Box<dyn std::error::Error> = Box::new(err("* * *"));
    assert_eq!(e.to_string(), "expected 5 or 6 fields, found 3");
    assert!("nonsense".parse::<Crontab>().is_err());
    assert!(parse("0 0 * * *").is_ok());
}

// ---------------------------------------------------------------- translation to the cron crate

#[test]
fn translation_to_cron_expression() {
    let cases = [
        ("*/1 * * * * *", "0 * * * * * 1970-2099"),
        ("* * * * *", "0 * * * * * 1970-2099"),
        ("0 5 * * MON *", "0 0 5 * * MON 1970-2099"),
        ("0 5 * * 1", "0 0 5 * * MON 1970-2099"),
        ("0 0 * * 0", "0 0 0 * * SUN 1970-2099"),
        ("0 0 * * 7", "0 0 0 * * SUN 1970-2099"),
        ("0 0 * * SAT,SUN", "0 0 0 * * SUN,SAT 1970-2099"),
        ("0 0 * * FRI-SUN", "0 0 0 * * SUN,FRI,SAT 1970-2099"),
        ("0 0 * * SUN-WED", "0 0 0 * * SUN-WED 1970-2099"),
        ("0 0 * * MON-FRI", "0 0 0 * * MON-FRI 1970-2099"),
        ("0 0 * * 0-6", "0 0 0 * * * 1970-2099"),
        (
            "*/15 9-17 * * MON-FRI 2026",
            "0 0,15,30,45 9-17 * * MON-FRI 2026",
        ),
        ("10-50/10 * * * *", "0 10,20,30,40,50 * * * * 1970-2099"),
        ("5/10 * * * *", "0 5,15,25,35,45,55 * * * * 1970-2099"),
        ("1,2 0 1 1 *", "0 1,2 0 1 1 * 1970-2099"),
        ("1,2,3 0 1 1 *", "0 1-3 0 1 1 * 1970-2099"),
        ("0 0 29 2 * *", "0 0 0 29 2 * 1970-2099"),
        ("0 0 13 * FRI *", "0 0 0 13 * FRI 1970-2099"),
        ("0 0 31 jan,mar-may *", "0 0 0 31 1,3-5 * 1970-2099"),
        ("* * * * * 2027", "0 * * * * * 2027"),
        ("* * * * * 2026-2030/2", "0 * * * * * 2026,2028,2030"),
        ("* * * * * 2026,2027", "0 * * * * * 2026,2027"),
        ("* * * * * 1970-2099", "0 * * * * * 1970-2099"),
    ];
    for (input, expected) in cases {
        let c = ct(input);
        assert_eq!(c.to_cron_expression(), expected, "{input}");
        assert!(cron::Schedule::from_str(expected).is_ok(), "{expected}");
    }
}

#[test]
fn cron_crate_weekday_numbering_is_sunday_first() {
    // Pins the assumption behind writing names: the crate's ordinal for a weekday is
    // `number_from_sunday`.
    let c = ct("0 0 * * MON");
    assert!(c.schedule.days_of_week().includes(2));
    assert_eq!(c.schedule.days_of_week().count(), 1);
    let c = ct("0 0 * * 0");
    assert!(c.schedule.days_of_week().includes(1));
    let c = ct("0 0 * * SAT");
    assert!(c.schedule.days_of_week().includes(7));
    assert!(!c.schedule.years().includes(2100));
}

// ---------------------------------------------------------------- calendar edges

#[test]
fn leap_years() {
    let c = ct("0 0 29 2 * *");
    assert_eq!(
        c.next_after(at("2027-03-01T00:00:00Z")),
        Some(at("2028-02-29T00:00:00Z"))
    );
    assert_eq!(
        c.next_after(at("2028-02-29T00:00:00Z")),
        Some(at("2032-02-29T00:00:00Z"))
    );
    // 2100 is not a leap year and not allowed either: 2096 is the last.
    assert_eq!(c.next_after(at("2096-02-29T00:00:00Z")), None);
    assert_eq!(
        c.runs_between(at("2026-01-01T00:00:00Z"), at("2037-01-01T00:00:00Z")),
        vec![
            at("2028-02-29T00:00:00Z"),
            at("2032-02-29T00:00:00Z"),
            at("2036-02-29T00:00:00Z")
        ]
    );
}

#[test]
fn month_ends() {
    let c = ct("0 0 31 * * *");
    assert_eq!(
        c.next_after(at("2026-04-01T00:00:00Z")),
        Some(at("2026-05-31T00:00:00Z"))
    );
    let runs = c.runs_between(at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"));
    assert_eq!(
        runs.iter().map(|t| t.month()).collect::<Vec<_>>(),
        vec![1, 3, 5, 7, 8, 10, 12]
    );
    let c = ct("59 23 30 * *");
    assert_eq!(
        c.next_after(at("2026-02-01T00:00:00Z")),
        Some(at("2026-03-30T23:59:00Z"))
    );
}

#[test]
fn year_edges() {
    let c = ct("* * * * * 2027");
    assert_eq!(
        c.next_after(at("2026-06-15T12:34:56Z")),
        Some(at("2027-01-01T00:00:00Z"))
    );
    assert_eq!(
        c.next_after(at("2027-12-31T23:58:00Z")),
        Some(at("2027-12-31T23:59:00Z"))
    );
    assert_eq!(c.next_after(at("2027-12-31T23:59:00Z")), None);
    assert!(c.validate(at("2027-12-31T23:58:59Z")).is_ok());
    assert_eq!(
        c.validate(at("2027-12-31T23:59:00Z"))
            .map_err(|e| e.to_string()),
        Err("never fires after 2027-12-31T23:59:00Z".to_string())
    );
    let runs = c.runs_between(at("2027-12-31T23:57:00Z"), at("2028-01-01T00:05:00Z"));
    assert_eq!(
        runs,
        vec![
            at("2027-12-31T23:57:00Z"),
            at("2027-12-31T23:58:00Z"),
            at("2027-12-31T23:59:00Z")
        ]
    );

    let last = ct("* * * * *");
    assert_eq!(
        last.next_after(at("2099-12-31T23:58:00Z")),
        Some(at("2099-12-31T23:59:00Z"))
    );
    assert_eq!(last.next_after(at("2099-12-31T23:59:00Z")), None);
}

#[test]
fn instants_outside_the_year_range_do_not_panic() {
    let c = ct("* * * * *");
    assert_eq!(c.next_after(DateTime::<Utc>::MAX_UTC), None);
    assert_eq!(c.next_after(at("2100-01-01T00:00:00Z")), None);
    assert_eq!(
        c.next_after(DateTime::<Utc>::MIN_UTC),
        Some(at("1970-01-01T00:00:00Z"))
    );
    assert_eq!(
        c.next_after(at("1969-12-31T23:59:59.5Z")),
        Some(at("1970-01-01T00:00:00Z"))
    );
    assert_eq!(
        c.next_after(at("1950-06-01T00:00:00Z")),
        Some(at("1970-01-01T00:00:00Z"))
    );
    assert!(!c.matches(DateTime::<Utc>::MIN_UTC));
    assert!(!c.matches(DateTime::<Utc>::MAX_UTC));
    assert_eq!(
        c.runs_between(DateTime::<Utc>::MIN_UTC, at("1970-01-01T00:02:00Z")),
        vec![at("1970-01-01T00:00:00Z"), at("1970-01-01T00:01:00Z")]
    );
    assert_eq!(
        c.runs_between(at("2099-12-31T23:58:00Z"), DateTime::<Utc>::MAX_UTC),
        vec![at("2099-12-31T23:58:00Z"), at("2099-12-31T23:59:00Z")]
    );
    assert!(
        c.runs_between(DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC)
            .is_empty()
    );
    assert!(c.validate(DateTime::<Utc>::MIN_UTC).is_ok());
    assert!(c.validate(DateTime::<Utc>::MAX_UTC).is_err());
    assert_eq!(END_OF_YEARS, at("2100-01-01T00:00:00Z").timestamp());
}

#[test]
fn friday_the_thirteenths_only() {
    let c = ct("0 0 13 * FRI *");
    let runs = c.runs_between(at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"));
    assert_eq!(
        runs,
        vec![
            at("2026-02-13T00:00:00Z"),
            at("2026-03-13T00:00:00Z"),
            at("2026-11-13T00:00:00Z")
        ]
    );
    assert_eq!(
        c.next_after(at("2026-01-01T00:00:00Z")),
        Some(at("2026-02-13T00:00:00Z"))
    );
    assert_eq!(
        c.next_after(at("2026-03-13T00:00:00Z")),
        Some(at("2026-11-13T00:00:00Z"))
    );
    // Neither "every 13th" nor "every Friday", as an OR would give.
    assert!(!c.matches(at("2026-01-13T00:00:00Z")));
    assert!(!c.matches(at("2026-01-02T00:00:00Z")));
    assert_eq!(
        cron_runs(&c, at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z")),
        runs
    );
}

#[test]
fn never_firing_schedules_fail_validation() {
    let now = at("2026-01-01T00:00:00Z");
    for s in [
        "0 0 30 2 * *",
        "0 0 31 4 * *",
        "0 0 31 2,4,6,9,11 *",
        "0 0 29 2 * 2027",
        "0 0 1 1 * 2020",
        "0 0 * * * 1970-2025",
        // The only 29 February in 2025-2031 (2028) is a Tuesday.
        "0 0 29 2 MON 2025-2031",
    ] {
        let c = ct(s);
        assert_eq!(c.next_after(now), None, "{s}");
        let e = c.validate(now).expect_err(s);
        assert_eq!(e.field, None);
        assert_eq!(
            e.to_string(),
            "never fires after 2026-01-01T00:00:00Z",
            "{s}"
        );
        assert!(
            preview(s, now, 5).is_err(),
            "preview of a never-firing schedule must fail: {s}"
        );
    }
    assert!(ct("0 0 29 2 TUE 2025-2031").validate(now).is_ok());
    assert!(
        ct("0 0 1 1 * 2020")
            .validate(at("2019-06-01T00:00:00Z"))
            .is_ok()
    );
}

#[test]
fn matches_ignores_seconds() {
    let c = ct("30 10 * * *");
    assert!(c.matches(at("2026-05-01T10:30:00Z")));
    assert!(c.matches(at("2026-05-01T10:30:45.123Z")));
    assert!(!c.matches(at("2026-05-01T10:31:00Z")));
    assert!(!c.matches(at("2026-05-01T11:30:00Z")));
}

#[test]
fn runs_between_bounds() {
    let c = ct("* * * * *");
    let from = at("2026-05-01T10:00:00.5Z");
    let to = at("2026-05-01T10:03:00.5Z");
    assert_eq!(
        c.runs_between(from, to),
        vec![
            at("2026-05-01T10:01:00Z"),
            at("2026-05-01T10:02:00Z"),
            at("2026-05-01T10:03:00Z")
        ]
    );
    let t = at("2026-05-01T10:00:00Z");
    assert!(c.runs_between(t, t).is_empty());
    assert!(c.runs_between(t + TimeDelta::minutes(5), t).is_empty());
    assert_eq!(c.runs_between(t, t + TimeDelta::seconds(1)), vec![t]);
}

#[test]
fn runs_between_agrees_with_the_cron_crate() {
    let from = at("2026-01-25T13:07:00Z");
    let to = at("2026-03-04T00:00:00Z");
    for s in [
        "*/7 */5 * * *",
        "0 5 * * MON *",
        "15 3 1,15,31 * *",
        "0 0 29 2 * *",
        "0 */6 * * SAT,SUN",
        "59 23 * FEB * 2026",
        "* 0 28-31 * FRI-SUN",
    ] {
        let c = ct(s);
        assert_eq!(c.runs_between(from, to), cron_runs(&c, from, to), "{s}");
    }
}

#[test]
fn preview_lists_the_next_runs() {
    let now = at("2026-01-01T00:07:00Z");
    assert_eq!(
        preview("*/15 * * * *", now, 3),
        Ok(vec![
            at("2026-01-01T00:15:00Z"),
            at("2026-01-01T00:30:00Z"),
            at("2026-01-01T00:45:00Z")
        ])
    );
    assert_eq!(preview("*/15 * * * *", now, 0), Ok(vec![]));
    // Fewer than asked when the schedule ends.
    assert_eq!(
        preview("0 0 1 1 * 2027,2028", now, 5),
        Ok(vec![at("2027-01-01T00:00:00Z"), at("2028-01-01T00:00:00Z")])
    );
    let e = preview("* * * * FOO", now, 3).expect_err("bad weekday");
    assert_eq!(e.field, Some("day-of-week"));
    assert_eq!(preview("0 0 1 1 * 2099", now, 100).map(|v| v.len()), Ok(1));
}

// ---------------------------------------------------------------- property tests

/// One list item, as the generator chose it: the raw semantics the reference evaluator uses.
#[derive(Clone, Debug)]
enum Item {
    Star,
    StarStep(u32),
    Value(u32),
    Range(u32, u32),
    RangeStep(u32, u32, u32),
    ValueStep(u32, u32),
}

/// Literal bounds, where `*` starts, and the names (index + 1 = value) a field accepts.
#[derive(Clone, Copy, Debug)]
struct Spec {
    lo: u32,
    hi: u32,
    star_lo: u32,
    names: &'static [&'static str],
}

const MONTHS: [&str; 12] = [
    "jan", "Feb", "MAR", "apr", "May", "JUN", "jul", "Aug", "SEP", "oct", "Nov", "DEC",
];
const WEEKDAYS: [&str; 7] = ["mon", "Tue", "WED", "thu", "Fri", "SAT", "sun"];

const SPECS: [Spec; 5] = [
    Spec {
        lo: 0,
        hi: 59,
        star_lo: 0,
        names: &[],
    },
    Spec {
        lo: 0,
        hi: 23,
        star_lo: 0,
        names: &[],
    },
    Spec {
        lo: 1,
        hi: 31,
        star_lo: 1,
        names: &[],
    },
    Spec {
        lo: 1,
        hi: 12,
        star_lo: 1,
        names: &MONTHS,
    },
    // Weekdays: 0 and 7 are Sunday; `*` is 1-7.
    Spec {
        lo: 0,
        hi: 7,
        star_lo: 1,
        names: &WEEKDAYS,
    },
];

fn step_strategy(spec: Spec) -> BoxedStrategy<u32> {
    let span = spec.hi - spec.lo + 1;
    prop_oneof![3 => 1..=4u32, 1 => 1..=span].boxed()
}

fn item_strategy(spec: Spec) -> BoxedStrategy<Item> {
    let value = spec.lo..=spec.hi;
    prop_oneof![
        step_strategy(spec).prop_map(Item::StarStep),
        value.clone().prop_map(Item::Value),
        (value.clone(), value.clone()).prop_map(|(a, b)| Item::Range(a.min(b), a.max(b))),
        (value.clone(), value.clone(), step_strategy(spec)).prop_map(|(a, b, s)| Item::RangeStep(
            a.min(b),
            a.max(b),
            s
        )),
        (value, step_strategy(spec)).prop_map(|(a, s)| Item::ValueStep(a, s)),
    ]
    .boxed()
}

fn field_strategy(spec: Spec) -> BoxedStrategy<Vec<Item>> {
    prop_oneof![
        2 => Just(vec![Item::Star]),
        3 => prop::collection::vec(item_strategy(spec), 1..=3),
    ]
    .boxed()
}

fn render_value(spec: Spec, v: u32, names: bool) -> String {
    // 0 (Sunday) has no name of its own: SUN is 7, and writing it for 0 would change `0/2`.
    match spec.names.get((v as usize).wrapping_sub(1)) {
        Some(name) if names && v >= 1 => name.to_string(),
        _ => v.to_string(),
    }
}

fn render_field(spec: Spec, items: &[Item], names: bool) -> String {
    let v = |x: u32| render_value(spec, x, names);
    items
        .iter()
        .map(|item| match item {
            Item::Star => "*".to_string(),
            Item::StarStep(s) => format!("*/{s}"),
            Item::Value(a) => v(*a),
            Item::Range(a, b) => format!("{}-{}", v(*a), v(*b)),
            Item::RangeStep(a, b, s) => format!("{}-{}/{s}", v(*a), v(*b)),
            Item::ValueStep(a, s) => format!("{}/{s}", v(*a)),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn item_allows(spec: Spec, item: &Item, v: u32) -> bool {
    match *item {
        Item::Star => true,
        Item::StarStep(s) => v >= spec.star_lo && (v - spec.star_lo).is_multiple_of(s),
        Item::Value(a) => v == a,
        Item::Range(a, b) => a <= v && v <= b,
        Item::RangeStep(a, b, s) => a <= v && v <= b && (v - a).is_multiple_of(s),
        Item::ValueStep(a, s) => a <= v && v <= spec.hi && (v - a).is_multiple_of(s),
    }
}

fn field_allows(spec: Spec, items: &[Item], v: u32) -> bool {
    items.iter().any(|item| item_allows(spec, item, v))
}

/// Evaluates the generated expression straight from its items, with none of the module's code.
fn reference_matches(fields: &[Vec<Item>; 5], years: Option<(i32, i32)>, t: DateTime<Utc>) -> bool {
    let iso = t.weekday().number_from_monday();
    field_allows(SPECS[0], &fields[0], t.minute())
        && field_allows(SPECS[1], &fields[1], t.hour())
        && field_allows(SPECS[2], &fields[2], t.day())
        && field_allows(SPECS[3], &fields[3], t.month())
        && (field_allows(SPECS[4], &fields[4], iso)
            || (iso == 7 && field_allows(SPECS[4], &fields[4], 0)))
        && years.is_none_or(|(a, b)| a <= t.year() && t.year() <= b)
}

fn ceil_to_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0);
    let minute = secs.div_euclid(60) + i64::from(secs.rem_euclid(60) > 0);
    DateTime::from_timestamp(minute * 60, 0).expect("in range")
}

// 2026-01-01T00:00:00Z and 2031-01-01T00:00:00Z.
const START_2026: i64 = 1_767_225_600;
const START_2031: i64 = 1_924_992_000;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn runs_agree_with_brute_force_and_an_independent_matcher(
        minute in field_strategy(SPECS[0]),
        hour in field_strategy(SPECS[1]),
        dom in field_strategy(SPECS[2]),
        month in field_strategy(SPECS[3]),
        dow in field_strategy(SPECS[4]),
        names in any::<(bool, bool)>(),
        six_fields in any::<bool>(),
        year_range in prop::option::of((0..3i32, 0..3i32)),
        start_secs in START_2026..START_2031,
        half_second in any::<bool>(),
        // Random month and day lists seldom meet a given week; these usually add one that does.
        hint_month in prop::bool::weighted(0.75),
        hint_day in prop::option::weighted(0.75, 0..7i64),
    ) {
        let start = DateTime::from_timestamp(start_secs, if half_second { 500_000_000 } else { 0 })
            .expect("in range");
        let end = start + TimeDelta::days(7);
        let mut fields = [minute, hour, dom, month, dow];
        if let Some(offset) = hint_day {
            fields[2].push(Item::Value((start + TimeDelta::days(offset)).day()));
        }
        if hint_month {
            fields[3].push(Item::Value(start.month()));
        }
        let years = if six_fields {
            year_range.map(|(below, above)| (start.year() - below, end.year() + above))
        } else {
            None
        };
        let mut text = [
            render_field(SPECS[0], &fields[0], false),
            render_field(SPECS[1], &fields[1], false),
            render_field(SPECS[2], &fields[2], false),
            render_field(SPECS[3], &fields[3], names.0),
            render_field(SPECS[4], &fields[4], names.1),
        ]
        .join(" ");
        if six_fields {
            text.push(' ');
            text.push_str(&match years {
                Some((a, b)) => format!("{a}-{b}"),
                None => "*".to_string(),
            });
        }
        let c = Crontab::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;

        let mut brute = Vec::new();
        let mut t = ceil_to_minute(start);
        while t < end {
            let ours = c.matches(t);
            prop_assert_eq!(ours, reference_matches(&fields, years, t), "{} at {}", text, t);
            if ours {
                brute.push(t);
            }
            t += TimeDelta::minutes(1);
        }

        prop_assert_eq!(&c.runs_between(start, end), &brute, "{}", text);

        let within_week = |next: Option<DateTime<Utc>>| next.filter(|t| *t < end);
        let first_after_start = brute.iter().copied().find(|t| *t > start);
        prop_assert_eq!(within_week(c.next_after(start)), first_after_start, "{}", text);
        // Sample runs across the week rather than all of them: dense schedules have 10,080.
        let stride = (brute.len() / 16).max(1);
        for i in (0..brute.len()).step_by(stride) {
            prop_assert_eq!(
                within_week(c.next_after(brute[i])),
                brute.get(i + 1).copied(),
                "{} after {}", text, brute[i]
            );
            prop_assert_eq!(
                c.next_after(brute[i] - TimeDelta::seconds(1)),
                Some(brute[i]),
                "{} just before {}", text, brute[i]
            );
        }

        // The cron crate alone, without this module's filter, gives the same runs.
        let raw: Vec<_> = c.schedule.after(&start).take_while(|t| *t < end).take(200).collect();
        let expected: Vec<_> = brute.iter().copied().filter(|t| *t > start).take(200).collect();
        prop_assert_eq!(raw, expected, "{}", text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        exercise(&s);
    }

    #[test]
    fn crontab_like_strings_never_panic(
        fields in prop::collection::vec("[-0-9*/,?A-Za-z]{1,8}", 0..8),
        separator in "[ \t]{1,3}",
    ) {
        exercise(&fields.join(&separator));
    }
}

fn exercise(s: &str) {
    let now = at("2026-06-01T12:00:00Z");
    if let Ok(c) = Crontab::parse(s) {
        let _ = c.next_after(now);
        let _ = c.validate(now);
        let _ = c.runs_between(now, now + TimeDelta::hours(6));
        let _ = c.to_cron_expression();
    }
    let _ = preview(s, now, 3);
}
