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
    /// True when the document holds nothing but comments, blank lines and an end marker.
    pub fn is_blank(&self) -> bool {
        self.text.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || marker(l) == Some(Marker::End)
        })
    }
}

/// What a line at column 0 means to the document structure. YAML forbids `---` and `...`
/// followed by a blank (or the line end) at column 0 inside any content, block scalars
/// included, so these lines are always markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    /// `---`; `inline` when content follows on the same line (`--- !!map`, `--- {a: 1}`, `--- |`).
    Start { inline: bool },
    /// `...`: the document ends here (the line belongs to it).
    End,
}

fn marker(line: &str) -> Option<Marker> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (rest, end) = match (line.strip_prefix("---"), line.strip_prefix("...")) {
        (Some(rest), _) => (rest, false),
        (_, Some(rest)) => (rest, true),
        _ => return None,
    };
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let r = rest.trim_start();
    let bare = r.is_empty() || r.starts_with('#');
    match end {
        // `... text` is not a marker but an error the parser reports where it is.
        true => bare.then_some(Marker::End),
        false => Some(Marker::Start { inline: !bare }),
    }
}

/// Directive lines (`%YAML 1.2`, `%TAG …`) with nothing but comments around them: the `---`
/// that follows starts the same document, not a new one.
fn only_directives(text: &str) -> bool {
    let mut any = false;
    for l in text.lines() {
        let t = l.trim();
        if l.starts_with('%') {
            any = true;
        } else if !(t.is_empty() || t.starts_with('#')) {
            return false;
        }
    }
    any
}

/// Split a file into documents, keeping byte ranges and line numbers. The documents' cuts
/// follow each other and cover the whole text.
pub fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    // The current document: where its text starts, where its cut starts, its first line.
    let (mut start, mut cut_start, mut start_line) = (0usize, 0usize, 1usize);
    let (mut offset, mut line_no) = (0usize, 1usize);
    for line in text.split_inclusive('\n') {
        let end = offset + line.len();
        match marker(line) {
            Some(Marker::Start { .. }) if only_directives(&text[start..offset]) => {}
            Some(Marker::Start { inline }) => {
                if offset > start || offset > cut_start {
                    docs.push(Document { text: &text[start..offset], line: start_line, cut: (cut_start, offset) });
                }
                cut_start = offset;
                // Content on the marker line belongs to the document: keep the marker in its text
                // (the parser reads it as the explicit start it is).
                (start, start_line) = if inline { (offset, line_no) } else { (end, line_no + 1) };
            }
            Some(Marker::End) => {
                docs.push(Document { text: &text[start..end], line: start_line, cut: (cut_start, end) });
                (start, cut_start, start_line) = (end, end, line_no + 1);
            }
            None => {}
        }
        offset = end;
        line_no += 1;
    }
    // A trailing separator makes an empty last document: the cuts cover the whole text.
    if offset > start || offset > cut_start {
        docs.push(Document { text: &text[start..offset], line: start_line, cut: (cut_start, offset) });
    }
    docs
}

fn options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.with_snippet = false;
    // Kubernetes reads manifests as YAML 1.1: `defaultMode: 0755` is octal 493, not 755.
    o.legacy_octal_numbers = true;
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
    let cut = [" at line ", ", set DuplicateKeyPolicy", "; use from_str_multiple"].iter().filter_map(|p| first.find(p)).min();
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
    use serde_json::json;

    #[test]
    fn numbers_read_the_way_kubernetes_reads_them() {
        // YAML 1.1, as sigs.k8s.io/yaml: a leading 0 is octal (a file mode), 0x is hex.
        let v = parse_str("t", "defaultMode: 0755\nmode: 0644\nport: 8080\nhex: 0x1F\ntag: \"0755\"\n").unwrap();
        assert_eq!(v, json!({"defaultMode": 493, "mode": 420, "port": 8080, "hex": 31, "tag": "0755"}));
    }

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

    #[test]
    fn content_on_the_separator_line_starts_a_document() {
        let t = "a: 1\n--- {b: 2}\n--- !!map\nc: 3\n--- |\n  text\n--- # comment\nd: 4\n";
        let d = split_documents(t);
        let values: Vec<Value> = d.iter().map(|d| parse_document("f", d).unwrap()).collect();
        assert_eq!(values, [json!({"a": 1}), json!({"b": 2}), json!({"c": 3}), json!("text\n"), json!({"d": 4})]);
        assert_eq!(d.iter().map(|d| d.line).collect::<Vec<_>>(), [1, 2, 3, 5, 8]);
        assert_eq!(&t[d[1].cut.0..d[1].cut.1], "--- {b: 2}\n");
        let e = parse_document("f", &split_documents("a: 1\n--- {b: 2\n")[1]).unwrap_err().to_string();
        assert!(e.starts_with("failed to load f:2:"), "{e}");
    }

    #[test]
    fn document_end_markers_end_documents() {
        let t = "a: 1\n...\nb: 2\n... # end\n---\nc: 3\n...";
        let d = split_documents(t);
        let values: Vec<Value> = d.iter().filter(|d| !d.is_blank()).map(|d| parse_document("f", d).unwrap()).collect();
        assert_eq!(values, [json!({"a": 1}), json!({"b": 2}), json!({"c": 3})]);
        assert_eq!(d[0].text, "a: 1\n...\n");
        assert_eq!((d[1].text, d[1].line), ("b: 2\n... # end\n", 3));
        assert!(split_documents("...\n# c\n").iter().all(Document::is_blank));
        // Not a marker: left to the parser, which names the line.
        assert!(parse_str("f", "a: 1\n... b\n").is_err());
    }

    #[test]
    fn directives_stay_with_their_document() {
        let t = "%YAML 1.2\n---\na: 1\n---\nb: 2\n";
        let d = split_documents(t);
        assert_eq!(d.len(), 2);
        assert_eq!(parse_document("f", &d[0]).unwrap(), json!({"a": 1}));
        assert_eq!(d[1].line, 5);
    }

    #[test]
    fn crlf_separators_and_block_scalars() {
        let t = "a: |\r\n  ---\r\n  x\r\n---\r\nb: 2\r\n";
        let d = split_documents(t);
        assert_eq!(d.len(), 2);
        assert_eq!(parse_document("f", &d[0]).unwrap()["a"], "---\nx\n");
        assert_eq!((d[1].line, parse_document("f", &d[1]).unwrap()), (5, json!({"b": 2})));
    }

    #[test]
    fn splitting_keeps_every_byte() {
        for t in ["", "---", "a\n---\n---\nb", "...\n...\n", "--- x\n... \n--- y", "%Y\n%Z\n---\n---\n", "\n\r\n---\r"] {
            let d = split_documents(t);
            // Cuts follow each other, cover the text, and each ends with its document's text.
            let mut at = 0;
            for doc in &d {
                assert!(doc.cut.0 == at && doc.cut.0 <= doc.cut.1, "{t:?}: {d:?}");
                assert!(t[doc.cut.0..doc.cut.1].ends_with(doc.text), "{t:?}: {d:?}");
                at = doc.cut.1;
            }
            assert_eq!(at, t.len(), "{t:?}: {d:?}");
        }
    }
}
