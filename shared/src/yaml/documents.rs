use serde_json::Value;

use crate::error::{Error, Result};

/// One `---`-separated document of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Document<'a> {
    /// The document's own text (without its separator line).
    pub text: &'a str,
    /// 1-based line of the document's first line in the file.
    pub line: usize,
    /// Byte range to cut when removing the document: its separator line (if any) and its text.
    pub cut: (usize, usize),
}

impl Document<'_> {
    /// True when the document holds nothing but comments and blank lines.
    pub fn is_blank(&self) -> bool {
        self.text.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t == "..."
        })
    }
}

/// A separator is `---` at column 0, alone or followed by blanks or a comment. (A document
/// marker inside a quoted scalar is not valid YAML, so column 0 is decisive.)
fn is_separator(line: &str) -> bool {
    let line = line.trim_end_matches(['\r', '\n']);
    match line.strip_prefix("---") {
        Some(rest) => rest.is_empty() || rest.starts_with([' ', '\t']) && {
            let r = rest.trim_start();
            r.is_empty() || r.starts_with('#')
        },
        None => false,
    }
}

/// Split a file into documents, keeping byte ranges and line numbers.
pub fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let (mut start, mut cut_start, mut start_line) = (0usize, 0usize, 1usize);
    let (mut offset, mut line_no) = (0usize, 1usize);
    for line in text.split_inclusive('\n') {
        if is_separator(line) {
            if offset > start || offset > cut_start {
                docs.push(Document { text: &text[start..offset], line: start_line, cut: (cut_start, offset) });
            }
            cut_start = offset;
            start = offset + line.len();
            start_line = line_no + 1;
        }
        offset += line.len();
        line_no += 1;
    }
    if offset > start {
        docs.push(Document { text: &text[start..offset], line: start_line, cut: (cut_start, offset) });
    }
    docs
}

fn options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.with_snippet = false;
    // Alias bombs: a few thousand replayed events is far above any real manifest's needs.
    o.alias_limits.max_total_replayed_events = 20_000;
    o.alias_limits.max_replay_stack_depth = 16;
    if let Some(b) = o.budget.as_mut() {
        b.max_events = 200_000;
        b.max_aliases = 1_000;
        b.max_anchors = 1_000;
    }
    o
}

/// Parse one document into JSON, naming the file and the line on error.
pub fn parse_document(file: &str, doc: &Document<'_>) -> Result<Value> {
    parse_at(file, doc.text, doc.line)
}

/// Parse a whole single-document string (e.g. a `--values` file).
pub fn parse_str(file: &str, text: &str) -> Result<Value> {
    let docs = split_documents(text);
    match docs.iter().filter(|d| !d.is_blank()).count() {
        0 => Ok(Value::Null),
        1 => parse_document(file, docs.iter().find(|d| !d.is_blank()).unwrap_or(&docs[0])),
        _ => Err(Error::input(file, None, "expected one YAML document, found several")),
    }
}

fn parse_at(file: &str, text: &str, first_line: usize) -> Result<Value> {
    serde_saphyr::from_str_with_options::<Value>(text, options()).map_err(|e| {
        let line = e.location().map(|l| l.line() as usize + first_line - 1);
        Error::input(file, line, clean_message(&e.to_string()))
    })
}

/// serde-saphyr appends its own position and hints; keep only the first sentence.
fn clean_message(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg);
    let cut = [" at line ", ", set DuplicateKeyPolicy"].iter().filter_map(|p| first.find(p)).min();
    let msg = cut.map_or(first, |i| &first[..i]).trim();
    if msg.starts_with("alias replay limit") || msg.contains("budget") {
        format!("{msg} (YAML aliases expand beyond the safe limit)")
    } else {
        msg.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_with_lines_and_cuts() {
        let t = "a: 1\n---\nb: 2\n--- # c\nc: 3\n";
        let d = split_documents(t);
        assert_eq!(d.len(), 3);
        assert_eq!((d[1].text, d[1].line), ("b: 2\n", 3));
        assert_eq!(&t[d[2].cut.0..d[2].cut.1], "--- # c\nc: 3\n");
        assert_eq!(d[2].line, 5);
    }

    #[test]
    fn leading_separator_and_dashes_in_strings() {
        let t = "---\nx: |\n  ---\n  y\n";
        let d = split_documents(t);
        assert_eq!(d.len(), 1);
        assert_eq!(parse_document("f", &d[0]).unwrap()["x"], "---\ny\n");
        assert!(split_documents("----\n").len() == 1);
    }

    #[test]
    fn errors_name_file_and_absolute_line() {
        let t = "a: 1\n---\nb: 1\nb: 2\n";
        let d = split_documents(t);
        let e = parse_document("k.yaml", &d[1]).unwrap_err().to_string();
        assert_eq!(e, "failed to load k.yaml:4: duplicate mapping key: b");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
        for (i, c) in ['b', 'c', 'd', 'e', 'f', 'g'].iter().enumerate() {
            let prev = (b'a' + i as u8) as char;
            s.push_str(&format!("{c}: &{c} [{}]\n", vec![format!("*{prev}"); 10].join(",")));
        }
        let e = parse_str("bomb.yaml", &s).unwrap_err().to_string();
        assert!(e.starts_with("failed to load bomb.yaml:"), "{e}");
        assert!(e.contains("aliases"), "{e}");
    }
}
