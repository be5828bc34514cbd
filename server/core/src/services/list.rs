//! The list engine, shared by every list endpoint: filters (`field`, `field__lookup`),
//! `search`, `order_by`/`order`, `page`/`page_size`, and the `next`/`previous` links. Each
//! resource only declares its fields; every rule about query strings lives here.
use chrono::{DateTime, NaiveDate, Utc};
use cyborg_dto::Page;
use sea_orm::{
    DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
    sea_query::{
        Alias, Condition, Expr, ExprTrait, Func, LikeExpr, Order, Query, SimpleExpr, Value,
    },
};

use crate::error::{Error, Result};

pub const DEFAULT_PAGE_SIZE: u64 = 100;
pub const MAX_PAGE_SIZE: u64 = 10_000;
/// Longest filter value or search term we accept; longer ones cannot match any stored field.
const MAX_VALUE_LEN: usize = 4096;
/// Most values in one `__in` list.
const MAX_IN_VALUES: usize = 1000;
/// Most parameters in one query string. Every filter adds a level to the SQL condition, which is
/// built, cloned, rendered and dropped recursively: a GET with ~1000 filters (`?id__gt=1&…`)
/// overflowed the stack and aborted the whole server process, on both databases.
const MAX_PARAMS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Int,
    Text,
    Bool,
    DateTime,
    /// An id reached through a join table: `owner_col` points back at this row, `value_col` holds
    /// the filtered id (a policy's `clients`).
    Link {
        table: &'static str,
        owner_col: &'static str,
        value_col: &'static str,
    },
}

/// One field a list can filter and order on.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The name in the query string and in the API object.
    pub name: &'static str,
    pub table: &'static str,
    pub column: &'static str,
    pub kind: Kind,
    /// Whether `?search=` looks in this field.
    pub search: bool,
}

impl Field {
    pub const fn new(
        name: &'static str,
        table: &'static str,
        column: &'static str,
        kind: Kind,
    ) -> Self {
        Self {
            name,
            table,
            column,
            kind,
            search: false,
        }
    }

    pub const fn searchable(mut self) -> Self {
        self.search = true;
        self
    }

    pub fn expr(&self) -> SimpleExpr {
        Expr::col((Alias::new(self.table), Alias::new(self.column))).into()
    }
}

/// The query string of one list request, in order, and the path it was made to.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub path: String,
    pub params: Vec<(String, String)>,
}

impl ListRequest {
    pub fn new(path: impl Into<String>, params: Vec<(String, String)>) -> Self {
        Self {
            path: path.into(),
            params,
        }
    }

    /// A request the server makes itself (counts, small pages, pickers).
    pub fn of(path: &str, params: &[(&str, String)]) -> Self {
        Self::new(
            path,
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }
}

/// A list request turned into SQL pieces.
#[derive(Debug, Clone)]
pub struct Plan {
    pub condition: Condition,
    pub order: Vec<(SimpleExpr, Order)>,
    pub page: u64,
    pub page_size: u64,
}

pub fn plan(
    fields: &[Field],
    id_field: &Field,
    req: &ListRequest,
    backend: DbBackend,
) -> Result<Plan> {
    let mut condition = Condition::all();
    let mut order = Vec::new();
    let mut page = 1;
    let mut page_size = DEFAULT_PAGE_SIZE;

    if req.params.len() > MAX_PARAMS {
        return Err(Error::BadRequest(format!(
            "At most {MAX_PARAMS} query parameters are allowed."
        )));
    }
    for (key, value) in &req.params {
        if value.len() > MAX_VALUE_LEN || value.contains('\0') {
            return Err(Error::field(
                key,
                "Value is too long or holds a NUL character.",
            ));
        }
        match key.as_str() {
            "page" => page = parse_positive(key, value, u64::MAX)?,
            "page_size" => page_size = parse_positive(key, value, MAX_PAGE_SIZE)?,
            "search" => {
                if !value.trim().is_empty() {
                    let mut any = Condition::any();
                    for f in fields.iter().filter(|f| f.search) {
                        any = any.add(icontains(f.expr(), value, backend));
                    }
                    condition = condition.add(any);
                }
            }
            "order_by" | "order" => order = parse_order(fields, key, value)?,
            _ => condition = condition.add(parse_filter(fields, key, value, backend)?),
        }
    }
    if order.is_empty() {
        order.push((id_field.expr(), Order::Desc));
    } else if !order.iter().any(|(e, _)| *e == id_field.expr()) {
        // A unique tie-breaker keeps pages stable when the chosen field has equal values.
        order.push((id_field.expr(), Order::Asc));
    }
    Ok(Plan {
        condition,
        order,
        page,
        page_size,
    })
}

pub fn parse_positive(key: &str, value: &str, max: u64) -> Result<u64> {
    match value.parse::<u64>() {
        Ok(n) if n >= 1 && n <= max => Ok(n),
        _ if max == u64::MAX => Err(Error::field(key, "A page number from 1 is expected.")),
        _ => Err(Error::field(
            key,
            format!("A whole number from 1 to {max} is expected."),
        )),
    }
}

fn parse_order(fields: &[Field], key: &str, value: &str) -> Result<Vec<(SimpleExpr, Order)>> {
    let mut order = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, dir) = match item.strip_prefix('-') {
            Some(name) => (name, Order::Desc),
            None => (item, Order::Asc),
        };
        let field = fields
            .iter()
            .find(|f| f.name == name && !matches!(f.kind, Kind::Link { .. }))
            .ok_or_else(|| {
                Error::field(key, format!("Cannot order by '{name}': {}.", known(fields)))
            })?;
        order.push((field.expr(), dir));
    }
    Ok(order)
}

fn known(fields: &[Field]) -> String {
    let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
    format!("known fields are {}", names.join(", "))
}

fn parse_filter(fields: &[Field], key: &str, value: &str, backend: DbBackend) -> Result<Condition> {
    let (name, lookup) = key.split_once("__").unwrap_or((key, "exact"));
    let field = fields
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| Error::field(key, format!("Unknown filter: {}.", known(fields))))?;
    let bad = |msg: &str| Error::field(key, msg.to_string());

    if let Kind::Link {
        table,
        owner_col,
        value_col,
    } = field.kind
    {
        let ids: Vec<Value> = match lookup {
            "exact" => vec![parse_value(Kind::Int, value).map_err(|m| bad(&m))?],
            "in" => parse_list(Kind::Int, value).map_err(|m| bad(&m))?,
            _ => return Err(bad("Only exact and __in lookups apply to this field.")),
        };
        let sub = Query::select()
            .column(Alias::new(owner_col))
            .from(Alias::new(table))
            .and_where(Expr::col(Alias::new(value_col)).is_in(ids))
            .to_owned();
        let owner = Field {
            column: "id",
            ..*field
        };
        return Ok(Condition::all().add(owner.expr().in_subquery(sub)));
    }

    let col = field.expr();
    let text_only = |c: SimpleExpr| -> Result<SimpleExpr> {
        if field.kind == Kind::Text {
            Ok(c)
        } else {
            Err(bad("This lookup applies to text fields only."))
        }
    };
    let expr = match lookup {
        "exact" => col.eq(parse_value(field.kind, value).map_err(|m| bad(&m))?),
        "iexact" => text_only(case_insensitive(col.clone(), false, value, false, backend))?,
        "contains" => text_only(contains(col.clone(), value, backend))?,
        "icontains" => text_only(icontains(col.clone(), value, backend))?,
        "startswith" => text_only(starts_with(col.clone(), value))?,
        "istartswith" => text_only(case_insensitive(col.clone(), false, value, true, backend))?,
        "endswith" => text_only(ends_with(col.clone(), value))?,
        "iendswith" => text_only(case_insensitive(col.clone(), true, value, false, backend))?,
        "in" => col.is_in(parse_list(field.kind, value).map_err(|m| bad(&m))?),
        "gt" | "gte" | "lt" | "lte" => {
            if field.kind == Kind::Bool {
                return Err(bad("Comparisons do not apply to true/false fields."));
            }
            let v = parse_value(field.kind, value).map_err(|m| bad(&m))?;
            match lookup {
                "gt" => col.gt(v),
                "gte" => col.gte(v),
                "lt" => col.lt(v),
                _ => col.lte(v),
            }
        }
        "isnull" => match parse_bool(value) {
            Some(true) => col.is_null(),
            Some(false) => col.is_not_null(),
            None => return Err(bad("true or false is expected.")),
        },
        _ => {
            return Err(bad(
                "Unknown lookup; known: exact, iexact, contains, icontains, startswith, \
                 istartswith, endswith, iendswith, in, gt, gte, lt, lte, isnull.",
            ));
        }
    };
    Ok(Condition::all().add(expr))
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn parse_value(kind: Kind, value: &str) -> std::result::Result<Value, String> {
    match kind {
        Kind::Int | Kind::Link { .. } => value
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("'{value}' is not a whole number.")),
        Kind::Bool => parse_bool(value)
            .map(Value::from)
            .ok_or_else(|| format!("'{value}' is not true or false.")),
        Kind::DateTime => parse_datetime(value)
            .map(Value::from)
            .ok_or_else(|| format!("'{value}' is not an RFC 3339 date-time or a YYYY-MM-DD date.")),
        Kind::Text => Ok(Value::from(value.to_string())),
    }
}

fn parse_list(kind: Kind, value: &str) -> std::result::Result<Vec<Value>, String> {
    let items: Vec<&str> = value.split(',').filter(|s| !s.is_empty()).collect();
    if items.len() > MAX_IN_VALUES {
        return Err(format!("At most {MAX_IN_VALUES} values are allowed."));
    }
    items.into_iter().map(|v| parse_value(kind, v)).collect()
}

pub fn parse_datetime(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// `value` as a LIKE pattern that matches it literally, between `before` and `after` wildcards.
fn like_pattern(before: &str, value: &str, after: &str) -> LikeExpr {
    LikeExpr::new(format!("{before}{}{after}", escape_like(value))).escape('\\')
}

/// `value` with LIKE's wildcards and escape character escaped by `\` (for `ESCAPE '\'`).
pub fn escape_like(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

pub fn icontains(col: SimpleExpr, value: &str, backend: DbBackend) -> SimpleExpr {
    case_insensitive(col, true, value, true, backend)
}

/// `col` equals `value` ignoring case, with any text before and/or after it when asked.
///
/// PostgreSQL: `lower(col) LIKE lower(value)`, its `lower()` folds every letter. SQLite's `lower()`
/// and `LIKE` fold ASCII letters only, so `?first_name__icontains=ölga` missed "Ölga" (and a
/// catalog search for "été" missed "Été") there. SQLite gets a GLOB pattern instead, each letter
/// as a class of its case variants (`[Öö]`), which is exact for every letter and portable (no
/// ICU extension needed).
fn case_insensitive(
    col: SimpleExpr,
    any_before: bool,
    value: &str,
    any_after: bool,
    backend: DbBackend,
) -> SimpleExpr {
    if backend == DbBackend::Sqlite {
        let mut pattern = String::with_capacity(value.len() * 2 + 2);
        if any_before {
            pattern.push('*');
        }
        for c in value.chars() {
            push_glob_char(&mut pattern, c);
        }
        if any_after {
            pattern.push('*');
        }
        // glob(P, X) is `X GLOB P`.
        return Expr::expr(Func::cust(Alias::new("glob")).arg(pattern).arg(col)).eq(1);
    }
    let (before, after) = (
        if any_before { "%" } else { "" },
        if any_after { "%" } else { "" },
    );
    Expr::expr(Func::lower(col)).like(like_pattern(before, &value.to_lowercase(), after))
}

/// Appends `c` to a GLOB pattern so that it matches itself and its other-case forms only.
fn push_glob_char(pattern: &mut String, c: char) {
    if matches!(c, '*' | '?' | '[' | ']') {
        pattern.push('[');
        pattern.push(c);
        pattern.push(']');
        return;
    }
    let mut variants = vec![c];
    for mapped in [
        c.to_lowercase().collect::<Vec<char>>(),
        c.to_uppercase().collect::<Vec<char>>(),
    ] {
        // Mappings to several characters (ß → SS) cannot sit in a one-character class.
        if let [one] = mapped[..]
            && !variants.contains(&one)
        {
            variants.push(one);
        }
    }
    if variants.len() == 1 {
        pattern.push(c);
    } else {
        pattern.push('[');
        pattern.extend(variants);
        pattern.push(']');
    }
}

/// Case-sensitive substring test. SQLite's LIKE ignores ASCII case, so each backend gets its own
/// position function instead.
fn contains(col: SimpleExpr, value: &str, backend: DbBackend) -> SimpleExpr {
    let func = if backend == DbBackend::Postgres {
        "strpos"
    } else {
        "instr"
    };
    Expr::expr(Func::cust(Alias::new(func)).arg(col).arg(value.to_string())).gt(0)
}

/// Case-sensitive prefix test, portable and exact: the first `len(value)` characters equal it.
/// The length is bound as a 32-bit integer: PostgreSQL has `substr(text, int, int)` only, and an
/// `i64` (int8) argument made every `__startswith`/`__endswith` a 500 there. Values are at most
/// `MAX_VALUE_LEN` characters, so the length always fits.
pub fn starts_with(col: SimpleExpr, value: &str) -> SimpleExpr {
    let n = value.chars().count() as i32;
    Expr::expr(Func::cust(Alias::new("substr")).arg(col).arg(1).arg(n)).eq(value.to_string())
}

fn ends_with(col: SimpleExpr, value: &str) -> SimpleExpr {
    // i32 for the same reason as in `starts_with`: `char_length(...) - int8` is int8 on PostgreSQL.
    let n = value.chars().count() as i32;
    if n == 0 {
        return Expr::value(true);
    }
    Expr::expr(
        Func::cust(Alias::new("substr"))
            .arg(col.clone())
            .arg(Expr::expr(Func::char_length(col)).sub(n - 1)),
    )
    .eq(value.to_string())
}

/// Applies the plan's filter and order to `select`, counts the matches and narrows to the page.
/// A page past the last one is a 404, as in the original API.
pub async fn window<E: EntityTrait>(
    db: &impl sea_orm::ConnectionTrait,
    select: Select<E>,
    plan: &Plan,
) -> Result<(u64, Select<E>)>
where
    E::Model: Sync,
{
    let mut select = select.filter(plan.condition.clone());
    // Counted before the ordering: a count with an ORDER BY made SQLite sort every matching row
    // (all its columns) just to count them.
    let count = select.clone().count(db).await?;
    for (expr, dir) in &plan.order {
        select = select.order_by(expr.clone(), dir.clone());
    }
    let offset = (plan.page - 1).saturating_mul(plan.page_size);
    if plan.page > 1 && offset >= count {
        return Err(Error::NotFound("Invalid page.".into()));
    }
    Ok((count, select.offset(offset).limit(plan.page_size)))
}

/// Wraps one page of results with the links to its neighbours.
pub fn page<T>(req: &ListRequest, plan: &Plan, count: u64, results: Vec<T>) -> Page<T> {
    let last = count.div_ceil(plan.page_size).max(1);
    let link = |p: u64| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in req.params.iter().filter(|(k, _)| k != "page") {
            ser.append_pair(k, v);
        }
        ser.append_pair("page", &p.to_string());
        format!("{}?{}", req.path, ser.finish())
    };
    Page {
        count,
        next: (plan.page < last).then(|| link(plan.page + 1)),
        previous: (plan.page > 1).then(|| link((plan.page - 1).min(last))),
        results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "t";
    const FIELDS: &[Field] = &[
        Field::new("id", T, "id", Kind::Int),
        Field::new("name", T, "name", Kind::Text).searchable(),
        Field::new("enabled", T, "enabled", Kind::Bool),
        Field::new("created", T, "created", Kind::DateTime),
    ];

    fn req(q: &[(&str, &str)]) -> ListRequest {
        ListRequest::new(
            "/api/v1/x/",
            q.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    fn plan_of(q: &[(&str, &str)]) -> Result<Plan> {
        plan(FIELDS, &FIELDS[0], &req(q), DbBackend::Sqlite)
    }

    #[test]
    fn malformed_values_and_unknown_fields_are_refused() {
        for q in [
            ("nope", "1"),
            ("id", "abc"),
            ("id__gt", "1.5"),
            ("enabled", "maybe"),
            ("created__gte", "yesterday"),
            ("name__bogus", "x"),
            ("enabled__icontains", "t"),
            ("page", "0"),
            ("page", "-1"),
            ("page_size", "10001"),
            ("page_size", "x"),
            ("order_by", "nope"),
            ("name__isnull", "perhaps"),
            ("name", "a\0b"),
        ] {
            assert!(plan_of(&[q]).is_err(), "{q:?} should be refused");
        }
    }

    #[test]
    fn valid_queries_plan() {
        let p = plan_of(&[
            ("name__icontains", "50%_off"),
            ("id__in", "1,2,3"),
            ("enabled", "true"),
            ("created__lt", "2026-01-01"),
            ("order_by", "-name,id"),
            ("page", "3"),
            ("page_size", "10"),
        ])
        .unwrap();
        assert_eq!((p.page, p.page_size), (3, 10));
        assert_eq!(
            p.order.len(),
            2,
            "id already in the order, no tie-breaker added"
        );
    }

    #[test]
    fn links_keep_other_parameters() {
        let r = req(&[("search", "a b"), ("page", "2"), ("page_size", "1")]);
        let p = plan(FIELDS, &FIELDS[0], &r, DbBackend::Sqlite).unwrap();
        let page = page(&r, &p, 3, Vec::<()>::new());
        assert_eq!(
            page.next.as_deref(),
            Some("/api/v1/x/?search=a+b&page_size=1&page=3")
        );
        assert_eq!(
            page.previous.as_deref(),
            Some("/api/v1/x/?search=a+b&page_size=1&page=1")
        );
    }

    #[test]
    fn glob_patterns_fold_case_and_escape_wildcards() {
        let mut p = String::new();
        for c in "Öl*?[]-^ß1".chars() {
            push_glob_char(&mut p, c);
        }
        assert_eq!(p, "[Öö][lL][*][?][[][]]-^ß1");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(escape_like("50%_\\x"), "50\\%\\_\\\\x");
    }
}
