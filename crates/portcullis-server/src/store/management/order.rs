//! The order of a management list (Kinde's `sort`) and its keyset: a page starts after the
//! last row of the previous one, named by its sort value and its key, so rows inserted while a
//! client pages through never make it skip or repeat the rows that were there.

use crate::store::Dialect;

/// What a list is sorted by. Ties are broken by the row's key (its id or code), in the same
/// direction, so the order is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// The row's key (id or code) only.
    #[default]
    Key,
    /// The name (a user's given and family name, `"{given} {family}"`, either blank when absent).
    Name,
    /// The email address.
    Email,
}

/// A list order: a column and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListOrder {
    /// The column.
    pub by: SortBy,
    /// Largest first.
    pub descending: bool,
}

/// Where a page starts: after the row with this sort value and key (for [`SortBy::Key`] both
/// are the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    /// The sort value of the last row of the previous page.
    pub value: String,
    /// Its key.
    pub key: String,
}

/// The SQL expression a user list sorts by for `by`.
pub(crate) fn user_sort_expr(by: SortBy, table: &str) -> String {
    match by {
        SortBy::Key => format!("{table}.id"),
        SortBy::Name => format!(
            "(COALESCE({table}.given_name, '') || ' ' || COALESCE({table}.family_name, ''))"
        ),
        SortBy::Email => format!("{table}.email"),
    }
}

/// The sort value of a user row, exactly as `user_sort_expr` computes it in SQL.
pub fn user_sort_value<'a>(
    by: SortBy,
    id: &'a str,
    email: &'a str,
    given_name: Option<&str>,
    family_name: Option<&str>,
) -> std::borrow::Cow<'a, str> {
    match by {
        SortBy::Key => id.into(),
        SortBy::Name => {
            format!("{} {}", given_name.unwrap_or(""), family_name.unwrap_or("")).into()
        }
        SortBy::Email => email.into(),
    }
}

/// `(condition, order by)` of a keyset page over `expr` then `key`: the condition holds for the
/// rows after `$value_param`/`$key_param` when `after` (a page token was given), and for every
/// row otherwise (the caller then binds both as NULL). Text sort values compare by
/// code point on both databases (`COLLATE "C"` on PostgreSQL, SQLite's default `BINARY`), so
/// an order does not depend on the database's locale.
pub(crate) fn keyset(
    expr: &str,
    key: &str,
    order: ListOrder,
    after: bool,
    value_param: usize,
    key_param: usize,
    dialect: Dialect,
) -> (String, String) {
    let expr = match (order.by, dialect) {
        (SortBy::Key, _) | (_, Dialect::Sqlite) => expr.to_owned(),
        (_, Dialect::Postgres) => format!("({expr} COLLATE \"C\")"),
    };
    let (cmp, dir) = if order.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let v = format!("${value_param}");
    let k = format!("${key_param}");
    // Every bound parameter appears in the SQL. Each case is its own statement (no
    // `$v IS NULL OR …`), so the planner sees a plain range on the key: a page deep in a
    // large list is an index seek on both databases, not a scan from the first row.
    let condition = if !after {
        format!("({} AND {})", unused(value_param), unused(key_param))
    } else if order.by == SortBy::Key {
        format!("({key} {cmp} {k} AND {v} IS NOT NULL)")
    } else {
        format!("({expr} {cmp} {v} OR ({expr} = {v} AND {key} {cmp} {k}))")
    };
    let order_by = if order.by == SortBy::Key {
        format!("{key} {dir}")
    } else {
        format!("{expr} {dir}, {key} {dir}")
    };
    (condition, order_by)
}

/// `column = $param` when the filter is given, else a condition that always holds (and still
/// uses the parameter, bound as NULL): one statement per case, so the planner can use the
/// column's index.
pub(crate) fn equals_or_unused(column: &str, param: usize, given: bool) -> String {
    if given {
        format!("{column} = ${param}")
    } else {
        unused(param)
    }
}

/// A condition that always holds and mentions `$param` (bound as NULL), so every bound
/// parameter appears in the statement.
fn unused(param: usize) -> String {
    format!("CAST(${param} AS TEXT) IS NULL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyset_conditions() {
        let (c, o) = keyset(
            "id",
            "id",
            ListOrder::default(),
            true,
            1,
            2,
            Dialect::Postgres,
        );
        assert_eq!(c, "(id > $2 AND $1 IS NOT NULL)");
        assert_eq!(o, "id ASC");
        let (c, _) = keyset(
            "id",
            "id",
            ListOrder::default(),
            false,
            1,
            2,
            Dialect::Sqlite,
        );
        assert_eq!(c, "(CAST($1 AS TEXT) IS NULL AND CAST($2 AS TEXT) IS NULL)");
        let order = ListOrder {
            by: SortBy::Name,
            descending: true,
        };
        let (c, o) = keyset("name", "id", order, true, 1, 2, Dialect::Sqlite);
        assert_eq!(c, "(name < $1 OR (name = $1 AND id < $2))");
        assert_eq!(o, "name DESC, id DESC");
        let (c, o) = keyset("name", "id", order, true, 1, 2, Dialect::Postgres);
        let name = "(name COLLATE \"C\")";
        assert_eq!(c, format!("({name} < $1 OR ({name} = $1 AND id < $2))"));
        assert_eq!(o, format!("{name} DESC, id DESC"));
    }

    #[test]
    fn user_values_match_the_sql() {
        assert_eq!(
            user_sort_value(SortBy::Name, "kp_1", "a@x.io", Some("Ann"), None),
            "Ann "
        );
        assert_eq!(
            user_sort_value(SortBy::Name, "kp_1", "a@x.io", None, Some("Lee")),
            " Lee"
        );
        assert_eq!(
            user_sort_value(SortBy::Email, "kp_1", "a@x.io", None, None),
            "a@x.io"
        );
    }
}
