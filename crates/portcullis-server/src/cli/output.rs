//! What the administration commands print: aligned tables, and JSON documents.
//!
//! Every value shown in a table or an error message comes from the server; control characters
//! in it (an escape sequence in a user's name) are shown escaped, never sent to the terminal.

use std::fmt::Write as _;

use serde::Serialize;

use super::CliError;

/// `text` with every control character but the newline written as an escape (`\u{1b}`).
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// One JSON document, pretty-printed, with a final newline.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<String, CliError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Output(std::io::Error::other(e)))?;
    text.push('\n');
    Ok(text)
}

/// An optional value as a table cell: `-` when absent.
pub(crate) fn cell(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

/// An optional flag as a table cell: `yes`, `no`, or `-`.
pub(crate) fn yes_no(value: Option<bool>) -> String {
    match value {
        Some(true) => "yes".to_owned(),
        Some(false) => "no".to_owned(),
        None => "-".to_owned(),
    }
}

/// A table: a header row and rows of cells, columns padded to their widest cell.
pub(crate) struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub(crate) fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (cells beyond the header's are dropped, missing ones are empty).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        let mut cells: Vec<String> = cells
            .into_iter()
            .take(self.header.len())
            .map(|c| clean(&c).replace('\n', "\\n"))
            .collect();
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// The table as text, one line per row, with a final newline.
    pub(crate) fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(c));
            }
        }
        let mut out = String::new();
        let header = self.header.iter().map(|h| (*h).to_owned());
        let lines = std::iter::once(header.collect::<Vec<_>>()).chain(self.rows.iter().cloned());
        for row in lines {
            let mut line = String::new();
            for (i, (c, w)) in row.iter().zip(&widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(c);
                } else {
                    // Writing to a String cannot fail.
                    let _ = write!(line, "{c:<w$}  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A two-column `FIELD VALUE` table of one item.
pub(crate) fn fields(pairs: &[(&'static str, String)]) -> String {
    let mut table = Table::new(&["FIELD", "VALUE"]);
    for (name, value) in pairs {
        table.row(vec![(*name).to_owned(), value.clone()]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_escape() {
        let mut t = Table::new(&["ID", "NAME"]);
        t.row(vec!["kp_1".into(), "Ada".into()]);
        t.row(vec!["kp_123456".into(), "Bo\u{1b}[31mb".into()]);
        assert_eq!(
            t.render(),
            "ID         NAME\nkp_1       Ada\nkp_123456  Bo\\u{1b}[31mb\n"
        );
    }

    #[test]
    fn empty_tables_have_a_header() {
        assert_eq!(Table::new(&["KEY", "TYPE"]).render(), "KEY  TYPE\n");
    }

    #[test]
    fn clean_keeps_newlines_only() {
        assert_eq!(clean("a\tb\nc\u{7}"), "a\\tb\nc\\u{7}");
    }
}
