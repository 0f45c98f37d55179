//! CSV as the console exports it (RFC 4180, CRLF line ends), safe to open in a spreadsheet.

/// One cell. A value a spreadsheet would take for a formula (one starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return: `=HYPERLINK(...)` in a description, say) is neutralised
/// with a leading `'`, which spreadsheets show as text; such a cell, and one holding a comma, a
/// quote or a line break, is quoted, its quotes doubled.
pub fn cell(value: &str) -> String {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let text = if formula {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if formula || text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// One line: its cells, each by [`cell`], and CRLF.
pub fn row<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = cells.into_iter().map(cell).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_quoted_when_it_must_be_and_never_a_formula() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell(""), "");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("=1+2"), "\"'=1+2\"");
        assert_eq!(cell("+1"), "\"'+1\"");
        assert_eq!(cell("-1"), "\"'-1\"");
        assert_eq!(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(cell("\t=1"), "\"'\t=1\"");
        assert_eq!(
            cell("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""
        );
        assert_eq!(cell("1=1"), "1=1", "only a leading sign is a formula");
        assert_eq!(
            cell("<script>alert(1)</script>"),
            "<script>alert(1)</script>",
            "CSV is no HTML: served as text/csv, an attachment"
        );
        assert_eq!(row(["a", "b,c", "=d"]), "a,\"b,c\",\"'=d\"\r\n");
    }
}
