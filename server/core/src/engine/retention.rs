//! Which archives a policy keeps: borg's prune rules, decided on this server for the archives of
//! exactly one lineage (repository, policy, client) so that a prune never touches an archive of
//! another policy or client, whatever the names look like.
//!
//! The rules are borg 1.2's (`borg/helpers/misc.py`: `prune_within`, `prune_split`), applied in
//! borg's order — within, last (borg's `--keep-last`, an alias of `--keep-secondly`), hourly,
//! daily, weekly, monthly, yearly — each one skipping what an earlier rule kept, and each periodic
//! rule keeping the oldest archive when it ran out of periods before reaching its count. Times
//! are UTC (borg runs with `TZ=UTC`). `server/tests/retention.rs` checks the answers against
//! `borg prune --dry-run --list` on real repositories.
use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use crate::entities::{archive, policy};

/// The keep rules of a policy; `None` means the rule is not used (borg's option not given).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// `--keep-within`: every archive younger than this many hours.
    pub within_hours: Option<i64>,
    pub last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
}

impl Rules {
    /// A policy's rules as stored. An unreadable rule (never written by this server, which
    /// validates them) is an error rather than "no rule", so a prune does not go ahead on less
    /// than the operator asked to keep.
    pub fn of(p: &policy::Model) -> Result<Self, String> {
        let count = |name: &str, v: Option<i32>| {
            v.map(|n| u32::try_from(n).map_err(|_| format!("{name} is negative ({n})")))
                .transpose()
        };
        Ok(Rules {
            within_hours: match p.keep_within.as_str() {
                "" => None,
                w => Some(parse_within(w)?),
            },
            last: count("keep_last", p.keep_last)?,
            hourly: count("keep_hourly", p.keep_hourly)?,
            daily: count("keep_daily", p.keep_daily)?,
            weekly: count("keep_weekly", p.keep_weekly)?,
            monthly: count("keep_monthly", p.keep_monthly)?,
            yearly: count("keep_yearly", p.keep_yearly)?,
        })
    }

    /// Whether any rule keeps something: without one borg refuses to prune, and so does the
    /// server (a policy with no rule, or only rules of 0, keeps everything rather than nothing).
    pub fn any(&self) -> bool {
        self.within_hours.is_some()
            || self
                .periodic()
                .iter()
                .any(|(_, n)| n.is_some_and(|n| n > 0))
    }

    fn periodic(&self) -> [(Rule, Option<u32>); 6] {
        [
            (Rule::Last, self.last),
            (Rule::Hourly, self.hourly),
            (Rule::Daily, self.daily),
            (Rule::Weekly, self.weekly),
            (Rule::Monthly, self.monthly),
            (Rule::Yearly, self.yearly),
        ]
    }
}

/// The rule that keeps an archive, in borg's words (`daily`, `within`, `last`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Within,
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Rule {
    /// The name the API and the dashboard use: the policy field without `keep_`.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Within => "within",
            Rule::Last => "last",
            Rule::Hourly => "hourly",
            Rule::Daily => "daily",
            Rule::Weekly => "weekly",
            Rule::Monthly => "monthly",
            Rule::Yearly => "yearly",
        }
    }

    /// The name borg prints in `Keeping archive (rule: NAME #N)` (`last` is borg's `secondly`).
    pub fn borg_name(self) -> &'static str {
        match self {
            Rule::Within => "within",
            Rule::Last => "secondly",
            Rule::Hourly => "hourly",
            Rule::Daily => "daily",
            Rule::Weekly => "weekly",
            Rule::Monthly => "monthly",
            Rule::Yearly => "yearly",
        }
    }

    /// The period an archive's time falls in, for the periodic rules (two archives in the same
    /// period compete for one place).
    fn period(self, t: DateTime<Utc>) -> i64 {
        let (y, mo, d) = (
            i64::from(t.year()),
            i64::from(t.month()),
            i64::from(t.day()),
        );
        let day = (y * 100 + mo) * 100 + d;
        match self {
            Rule::Within => 0,
            Rule::Last => t.timestamp(),
            Rule::Hourly => day * 100 + i64::from(t.hour()),
            Rule::Daily => day,
            // ISO 8601 week-numbering year and week (borg: strftime('%G-%V')).
            Rule::Weekly => {
                let w = t.iso_week();
                i64::from(w.year()) * 100 + i64::from(w.week())
            }
            Rule::Monthly => y * 100 + mo,
            Rule::Yearly => y,
        }
    }
}

/// Why an archive is kept: the rule, its running number within that rule (borg's `#N`), and
/// whether the rule kept it only as the oldest archive because it ran out of periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    pub rule: Rule,
    pub number: u32,
    pub oldest: bool,
}

impl Kept {
    /// borg's rule text: `daily`, `weekly[oldest]`.
    pub fn borg_rule(&self) -> String {
        if self.oldest {
            format!("{}[oldest]", self.rule.borg_name())
        } else {
            self.rule.borg_name().to_string()
        }
    }
}

/// Decides, for archives given by their times (in any order), which are kept and why; `None`
/// at an index means that archive is deleted. `now` is the reference of the `within` rule.
pub fn decide(times: &[DateTime<Utc>], rules: &Rules, now: DateTime<Utc>) -> Vec<Option<Kept>> {
    let mut kept: Vec<Option<Kept>> = vec![None; times.len()];
    // Newest first; equal times keep the later-given (newer) archive first.
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&a, &b| times[b].cmp(&times[a]).then(b.cmp(&a)));

    if let Some(hours) = rules.within_hours {
        let limit = now - TimeDelta::hours(hours);
        let mut number = 0;
        for &i in &order {
            if times[i] > limit {
                number += 1;
                kept[i] = Some(Kept {
                    rule: Rule::Within,
                    number,
                    oldest: false,
                });
            }
        }
    }
    for (rule, count) in rules.periodic() {
        let Some(count) = count.filter(|n| *n > 0) else {
            continue;
        };
        let mut number = 0;
        let mut last_period = None;
        for &i in &order {
            let period = rule.period(times[i]);
            if last_period == Some(period) {
                continue;
            }
            last_period = Some(period);
            if kept[i].is_none() {
                number += 1;
                kept[i] = Some(Kept {
                    rule,
                    number,
                    oldest: false,
                });
                if number == count {
                    break;
                }
            }
        }
        // Fewer periods than asked for: the oldest archive is kept too (borg 1.2.4 and later).
        if number < count
            && let Some(&oldest) = order.last()
            && kept[oldest].is_none()
        {
            kept[oldest] = Some(Kept {
                rule,
                number: number + 1,
                oldest: true,
            });
        }
    }
    kept
}

/// The archives of one lineage this server recorded (every backup job records its archive),
/// oldest first. Archives found in a repository but not recorded here are never part of one,
/// so nothing decided here can delete them.
pub async fn lineage(
    db: &impl ConnectionTrait,
    repository: i32,
    policy: i32,
    client: i32,
) -> Result<Vec<archive::Model>, DbErr> {
    archive::Entity::find()
        .filter(archive::Column::RepositoryId.eq(repository))
        .filter(archive::Column::PolicyId.eq(policy))
        .filter(archive::Column::ClientId.eq(client))
        .order_by_asc(archive::Column::Created)
        .order_by_asc(archive::Column::Id)
        .all(db)
        .await
}

/// Parses borg's `--keep-within` interval (`<int><unit>`, unit `H` hours, `d` days, `w` weeks,
/// `m` months of 31 days, `y` years of 365 days) into hours.
pub fn parse_within(s: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "'{s}' is not an interval: a whole number followed by H (hours), d (days), w (weeks), \
             m (months) or y (years), e.g. 7d."
        )
    };
    let unit = s.chars().last().ok_or_else(bad)?;
    let hours_per = match unit {
        'H' => 1,
        'd' => 24,
        'w' => 24 * 7,
        'm' => 24 * 31,
        'y' => 24 * 365,
        _ => return Err(bad()),
    };
    let digits = &s[..s.len() - 1];
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(format!("'{s}': the interval must be greater than 0."));
    }
    Ok(n * hours_per)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
    }

    fn rules_of(kept: &[Option<Kept>]) -> Vec<Option<String>> {
        kept.iter()
            .map(|k| k.map(|k| format!("{} #{}", k.borg_rule(), k.number)))
            .collect()
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day_and_the_oldest_when_short() {
        let times = [
            t(2026, 1, 1, 10),
            t(2026, 1, 2, 9),
            t(2026, 1, 2, 20),
            t(2026, 1, 3, 8),
        ];
        let rules = Rules {
            daily: Some(2),
            ..Rules::default()
        };
        let kept = decide(&times, &rules, t(2026, 1, 4, 0));
        assert_eq!(
            rules_of(&kept),
            [None, None, Some("daily #2".into()), Some("daily #1".into())]
        );
        let rules = Rules {
            daily: Some(5),
            ..Rules::default()
        };
        let kept = decide(&times, &rules, t(2026, 1, 4, 0));
        assert_eq!(
            rules_of(&kept),
            [
                Some("daily #3".into()),
                None,
                Some("daily #2".into()),
                Some("daily #1".into())
            ]
        );
        // Three periods for five places: the oldest archive was already kept as the third.
        assert!(kept.iter().all(|k| k.is_none_or(|k| !k.oldest)));
    }

    #[test]
    fn the_oldest_is_kept_when_its_period_was_taken_by_a_newer_archive() {
        // One day, three archives: daily=2 keeps the newest, then runs out of days.
        let times = [t(2026, 1, 1, 1), t(2026, 1, 1, 2), t(2026, 1, 1, 3)];
        let kept = decide(
            &times,
            &Rules {
                daily: Some(2),
                ..Rules::default()
            },
            t(2026, 1, 2, 0),
        );
        assert_eq!(
            rules_of(&kept),
            [
                Some("daily[oldest] #2".into()),
                None,
                Some("daily #1".into())
            ]
        );
    }

    #[test]
    fn later_rules_skip_what_earlier_ones_kept() {
        let times = [t(2025, 12, 31, 23), t(2026, 1, 1, 1), t(2026, 1, 1, 2)];
        let rules = Rules {
            last: Some(1),
            daily: Some(1),
            yearly: Some(1),
            ..Rules::default()
        };
        let kept = decide(&times, &rules, t(2026, 1, 2, 0));
        // last keeps the newest; daily's first period (Jan 1) is that same archive, so daily
        // keeps nothing of that day and moves on to Dec 31; yearly's 2026 period is taken and its
        // next (2025) too: it falls back to the oldest, already kept.
        assert_eq!(
            rules_of(&kept),
            [Some("daily #1".into()), None, Some("secondly #1".into())]
        );
    }

    #[test]
    fn within_is_strictly_younger_than_now_minus_the_interval() {
        let now = t(2026, 1, 10, 0);
        let times = [t(2026, 1, 9, 0), t(2026, 1, 9, 1), t(2026, 1, 1, 0)];
        let rules = Rules {
            within_hours: Some(24),
            ..Rules::default()
        };
        assert_eq!(
            rules_of(&decide(&times, &rules, now)),
            [None, Some("within #1".into()), None]
        );
    }

    #[test]
    fn weekly_uses_iso_weeks() {
        // 2024-12-30 (Monday) is in ISO week 1 of 2025, like 2025-01-05 (Sunday).
        let times = [t(2024, 12, 29, 12), t(2024, 12, 30, 12), t(2025, 1, 5, 12)];
        let rules = Rules {
            weekly: Some(5),
            ..Rules::default()
        };
        assert_eq!(
            rules_of(&decide(&times, &rules, t(2025, 2, 1, 0))),
            [Some("weekly #2".into()), None, Some("weekly #1".into())]
        );
    }

    #[test]
    fn zero_counts_and_no_rules_keep_nothing_by_that_rule() {
        let times = [t(2026, 1, 1, 1)];
        // borg refuses to prune with only rules of 0, and so does the server: keep_daily=0
        // alone must never read as "keep nothing".
        let zero = Rules {
            daily: Some(0),
            ..Rules::default()
        };
        assert!(!zero.any());
        let rules = Rules {
            daily: Some(0),
            weekly: Some(1),
            ..Rules::default()
        };
        assert!(rules.any());
        assert_eq!(
            decide(&times, &rules, t(2026, 1, 2, 0)),
            [Some(Kept {
                rule: Rule::Weekly,
                number: 1,
                oldest: false
            })]
        );
        assert!(!Rules::default().any());
        assert!(decide(&[], &rules, t(2026, 1, 2, 0)).is_empty());
    }

    #[test]
    fn within_intervals() {
        assert_eq!(parse_within("7d"), Ok(168));
        assert_eq!(parse_within("12H"), Ok(12));
        assert_eq!(parse_within("2w"), Ok(336));
        assert_eq!(parse_within("1m"), Ok(744));
        assert_eq!(parse_within("1y"), Ok(8760));
        for bad in [
            "", "d", "0d", "7", "7D", "-1d", "+7d", " 7d", "7 d", "1_0d", "9999999d",
        ] {
            assert!(parse_within(bad).is_err(), "{bad:?}");
        }
    }
}
