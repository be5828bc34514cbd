//! One crontab field: the set of values it allows, and the parser that builds it.

use std::fmt;

use super::CrontabError;

/// The values one field of a [`super::Crontab`] allows, as a bitset over the field's domain.
///
/// Day-of-week values are ISO numbers, 1 = Monday … 7 = Sunday (a `0` in the source is stored
/// as 7). Years are absolute (1970–2099).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldSet {
    min: u32,
    max: u32,
    // 192 bits: the widest domain is the year's 130 values.
    bits: [u64; 3],
}

impl FieldSet {
    fn empty(kind: Kind) -> Self {
        let (min, max) = kind.domain();
        FieldSet {
            min,
            max,
            bits: [0; 3],
        }
    }

    pub(crate) fn full(kind: Kind) -> Self {
        let mut set = FieldSet::empty(kind);
        for v in set.min..=set.max {
            set.insert(v);
        }
        set
    }

    fn insert(&mut self, v: u32) {
        if (self.min..=self.max).contains(&v) {
            let i = v - self.min;
            self.bits[(i / 64) as usize] |= 1 << (i % 64);
        }
    }

    /// Whether `v` is one of the allowed values.
    #[inline]
    pub fn contains(&self, v: u32) -> bool {
        if v < self.min || v > self.max {
            return false;
        }
        let i = v - self.min;
        (self.bits[(i / 64) as usize] >> (i % 64)) & 1 == 1
    }

    /// The allowed values, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (self.min..=self.max).filter(move |v| self.contains(*v))
    }

    /// How many values are allowed.
    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Never true for a parsed field (every list item contributes a value); present for API
    /// completeness.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every value of the domain is allowed (the field is unrestricted).
    pub fn is_full(&self) -> bool {
        self.len() == (self.max - self.min + 1) as usize
    }

    /// The field's domain, inclusive: `(0, 59)` for minutes, `(1, 7)` for day-of-week, …
    pub fn domain(&self) -> (u32, u32) {
        (self.min, self.max)
    }
}

impl fmt::Debug for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Which field is being parsed; decides the domain, the names and the error label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
    Year,
}

const MIN_YEAR: u32 = 1970;
const MAX_YEAR: u32 = 2099;

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
// Index + 1 is the ISO weekday number, so SUN is 7 (0 is accepted as a number only).
const WEEKDAY_NAMES: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Minute => "minute",
            Kind::Hour => "hour",
            Kind::DayOfMonth => "day-of-month",
            Kind::Month => "month",
            Kind::DayOfWeek => "day-of-week",
            Kind::Year => "year",
        }
    }

    /// The values stored in a [`FieldSet`].
    fn domain(self) -> (u32, u32) {
        match self {
            Kind::Minute => (0, 59),
            Kind::Hour => (0, 23),
            Kind::DayOfMonth => (1, 31),
            Kind::Month => (1, 12),
            Kind::DayOfWeek => (1, 7),
            Kind::Year => (MIN_YEAR, MAX_YEAR),
        }
    }

    /// The values a literal may have; wider than the domain only for day-of-week, where 0 is a
    /// second spelling of Sunday.
    fn literal_range(self) -> (u32, u32) {
        match self {
            Kind::DayOfWeek => (0, 7),
            other => other.domain(),
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Kind::Month => &MONTH_NAMES,
            Kind::DayOfWeek => &WEEKDAY_NAMES,
            _ => &[],
        }
    }

    fn not_a_value(self, token: &str) -> String {
        match self {
            Kind::Month => format!("{token} is not a month"),
            Kind::DayOfWeek => format!("{token} is not a weekday"),
            _ => format!("{token} is not a number"),
        }
    }

    fn error(self, message: String) -> CrontabError {
        CrontabError {
            field: Some(self.name()),
            message,
        }
    }
}

/// Parses one whitespace-free field: a comma-separated list of `*`, values, ranges, each with an
/// optional `/step`.
pub(crate) fn parse_field(kind: Kind, text: &str) -> Result<FieldSet, CrontabError> {
    let mut set = FieldSet::empty(kind);
    for item in text.split(',') {
        parse_item(kind, item, &mut set)?;
    }
    Ok(set)
}

fn parse_item(kind: Kind, item: &str, set: &mut FieldSet) -> Result<(), CrontabError> {
    if item.is_empty() {
        return Err(kind.error("empty item in list".to_string()));
    }
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base, Some(parse_step(kind, step, item)?)),
        None => (item, None),
    };
    let (start, end) = if base == "*" {
        // For day-of-week this is 1-7, so `*/2` is Mon, Wed, Fri, Sun: the field's numbering is
        // ISO, and starting at 0 would make `*/2` hit Sunday twice over the range 0-7.
        kind.domain()
    } else if let Some((a, b)) = base.split_once('-') {
        let a = parse_value(kind, a, item)?;
        let b = parse_value(kind, b, item)?;
        let (a, b) = if kind == Kind::DayOfWeek {
            sunday_as_range_end(a, b)
        } else {
            (a, b)
        };
        if a > b {
            return Err(kind.error(format!("range {base} runs backwards ({a} is after {b})")));
        }
        (a, b)
    } else {
        let v = parse_value(kind, base, item)?;
        match step {
            // `5/10` means "from 5 to the field's maximum, every 10".
            Some(_) => (v, kind.literal_range().1),
            None => (v, v),
        }
    };
    let step = step.unwrap_or(1);
    let mut v = start;
    while v <= end {
        set.insert(if kind == Kind::DayOfWeek && v == 0 {
            7
        } else {
            v
        });
        v += step;
    }
    Ok(())
}

/// Sunday is both 0 and 7, so a range that touches Sunday takes whichever spelling makes it run
/// forwards: `SUN-TUE` (7-2) is 0-2 and `FRI-0` is 5-7, as a reader would mean them.
fn sunday_as_range_end(a: u32, b: u32) -> (u32, u32) {
    if a == 7 && b < 7 {
        (0, b)
    } else if b == 0 && a > 0 {
        (a, 7)
    } else {
        (a, b)
    }
}

fn parse_step(kind: Kind, text: &str, item: &str) -> Result<u32, CrontabError> {
    if text.is_empty() {
        return Err(kind.error(format!("missing step after '/' in {item}")));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(kind.error(format!("step {text} is not a number")));
    }
    let (lo, hi) = kind.literal_range();
    let span = hi - lo + 1;
    match text.parse::<u32>() {
        Ok(0) => Err(kind.error("step 0 is not allowed".to_string())),
        // A step wider than the whole field is almost surely a typo (e.g. `*/90` minutes).
        Ok(step) if step <= span => Ok(step),
        _ => Err(kind.error(format!("step {text} is larger than the range {lo}-{hi}"))),
    }
}

fn parse_value(kind: Kind, token: &str, item: &str) -> Result<u32, CrontabError> {
    if token.is_empty() {
        return Err(kind.error(format!("missing value in {item}")));
    }
    let (lo, hi) = kind.literal_range();
    if token.bytes().all(|b| b.is_ascii_digit()) {
        return match token.parse::<u32>() {
            Ok(v) if (lo..=hi).contains(&v) => Ok(v),
            // Digits that overflow u32 are out of range as well.
            _ => Err(kind.error(format!("{token} is out of range {lo}-{hi}"))),
        };
    }
    kind.names()
        .iter()
        .position(|name| name.eq_ignore_ascii_case(token))
        .map(|i| i as u32 + 1)
        .ok_or_else(|| kind.error(kind.not_a_value(token)))
}

/// Renders a set the way the cron crate parses it: `*` when full, otherwise runs of three or more
/// consecutive values as `a-b` and the rest as single values.
pub(crate) fn render_numbers(set: &FieldSet) -> String {
    if set.is_full() {
        return "*".to_string();
    }
    render_runs(set.iter(), |v| v.to_string())
}

/// The cron crate's range for years is 1970-2100, so `*` would let it fire in 2100, a year this
/// module rejects: the years are always written out.
pub(crate) fn render_years(set: &FieldSet) -> String {
    render_runs(set.iter(), |v| v.to_string())
}

/// The cron crate numbers weekdays 1 = Sunday … 7 = Saturday (`number_from_sunday`), unlike this
/// module's ISO numbering; names mean the same in both, so they are what is emitted. Runs are
/// formed in the cron crate's order so that a named range such as `MON-FRI` is ascending there.
pub(crate) fn render_weekdays(set: &FieldSet) -> String {
    if set.is_full() {
        return "*".to_string();
    }
    // Sunday-first position 0..7, which is the cron crate's ordinal minus one.
    let mut sunday_first: Vec<u32> = set.iter().map(|iso| iso % 7).collect();
    sunday_first.sort_unstable();
    const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    render_runs(sunday_first.into_iter(), |v| {
        NAMES[(v % 7) as usize].to_string()
    })
}

fn render_runs(values: impl Iterator<Item = u32>, show: impl Fn(u32) -> String) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for v in values {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == v => *end = v,
            _ => runs.push((v, v)),
        }
    }
    let mut parts = Vec::new();
    for (a, b) in runs {
        match b - a {
            0 => parts.push(show(a)),
            1 => {
                parts.push(show(a));
                parts.push(show(b));
            }
            _ => parts.push(format!("{}-{}", show(a), show(b))),
        }
    }
    parts.join(",")
}
