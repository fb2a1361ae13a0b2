use std::collections::HashMap;
use std::fmt::Write;

use serde_json::Value;

/// Line comments keyed by a dotted path of map keys (`spec.values.image.tag`); sequence items are
/// addressed by their index (`spec.values.extraEnv.0.value`).
pub type Comments = HashMap<String, String>;

/// Emit `value` as block-style YAML (two-space indent, sequences indented under their key).
pub fn to_yaml(value: &Value, comments: &Comments) -> String {
    let mut out = String::new();
    let mut path = Vec::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0, &mut path, comments),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0, &mut path, comments),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn comment(out: &mut String, path: &[String], comments: &Comments) {
    if comments.is_empty() {
        return;
    }
    if let Some(c) = comments.get(&path.join(".")) {
        let _ = write!(out, " # {c}");
    }
}

fn inline(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) if m.is_empty() => Some("{}".into()),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(_) | Value::Array(_) => None,
        s => Some(scalar(s)),
    }
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize, path: &mut Vec<String>, c: &Comments) {
    for (i, (k, v)) in m.iter().enumerate() {
        // The first key of a map inside a sequence item shares the `- ` line.
        if !(i == 0 && out.ends_with("- ")) {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&key(k));
        out.push(':');
        path.push(k.clone());
        write_value(out, v, indent, path, c);
        path.pop();
    }
}

fn write_value(out: &mut String, v: &Value, indent: usize, path: &mut Vec<String>, c: &Comments) {
    match inline(v) {
        Some(s) => {
            out.push(' ');
            out.push_str(&s);
            comment(out, path, c);
            out.push('\n');
        }
        None => {
            comment(out, path, c);
            out.push('\n');
            match v {
                Value::Object(m) => write_map(out, m, indent + 2, path, c),
                Value::Array(a) => write_seq(out, a, indent + 2, path, c),
                _ => unreachable!("scalars are inline"),
            }
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], indent: usize, path: &mut Vec<String>, c: &Comments) {
    for (i, v) in a.iter().enumerate() {
        out.push_str(&" ".repeat(indent));
        path.push(i.to_string());
        match (inline(v), v) {
            (Some(s), _) => {
                out.push_str("- ");
                out.push_str(&s);
                comment(out, path, c);
                out.push('\n');
            }
            (None, Value::Object(m)) => {
                out.push_str("- ");
                write_map(out, m, indent + 2, path, c);
            }
            (None, Value::Array(inner)) => {
                out.push_str("-\n");
                write_seq(out, inner, indent + 2, path, c);
            }
            (None, _) => unreachable!("scalars are inline"),
        }
        path.pop();
    }
}

fn key(k: &str) -> String {
    if plain_ok(k) { k.to_string() } else { quoted(k) }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if plain_ok(s) => s.clone(),
        Value::String(s) => quoted(s),
        _ => unreachable!("collections are not scalars"),
    }
}

/// Would a YAML 1.1 or 1.2 reader read `s` back as this exact string when written plain?
/// Deliberately conservative: anything number-like, bool-like or null-like is quoted.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    if s != s.trim() || s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`~=<".contains(first) || s.chars().any(|c| c.is_control()) {
        return false;
    }
    // `...` at the start of a line ends the document (a top-level key would start one).
    if s.starts_with("...") {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(lower.as_str(), "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | ".inf" | ".nan") {
        return false;
    }
    // Numbers, octals, hex, sexagesimals, dates: anything that starts like a number and uses
    // only number-ish characters.
    let numberish = first.is_ascii_digit() || first == '.' || first == '+';
    !(numberish && s.chars().all(|c| c.is_ascii_hexdigit() || "xXoO._:+-".contains(c) || c == 'T' || c == 'Z' || c == ' '))
}

fn quoted(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for ch in s.chars() {
        match ch {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(q, "\\u{:04x}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(v: &Value) {
        let text = to_yaml(v, &Comments::new());
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(&back, v, "\n{text}");
    }

    #[test]
    fn strings_that_look_like_other_things_stay_strings() {
        for s in ["true", "True", "no", "Y", "2", "0.15.2", "1e3", "0x1F", "012", "1_000", "null", "~", "", " x",
                  "a: b", "x #y", "-x", "*a", "...  requests", "---x", "...", "2026-01-01", "12:30", "=", "<<", "multi\nline", "tab\tq\"\\"] {
            roundtrip(&json!({ "k": s, s: [s] }));
        }
    }

    #[test]
    fn nested_layout_is_block_style() {
        let v = json!({"a": {"b": [ {"c": 1, "d": "x"}, [1, 2], [] ], "e": {}}, "f": null});
        roundtrip(&v);
        assert_eq!(to_yaml(&v, &Comments::new()),
            "a:\n  b:\n    - c: 1\n      d: x\n    -\n      - 1\n      - 2\n    - []\n  e: {}\nf: null\n");
    }

    #[test]
    fn comments_attach_to_paths() {
        let mut c = Comments::new();
        c.insert("image.tag".into(), "{\"$imagepolicy\": \"flux-system:app:tag\"}".into());
        let text = to_yaml(&json!({"image": {"tag": "1.2"}}), &c);
        assert_eq!(text, "image:\n  tag: \"1.2\" # {\"$imagepolicy\": \"flux-system:app:tag\"}\n");
    }
}
