//! `--fix-routes`: point an HTTPRoute's backendRef (or an Ingress's service backend) at the
//! Service the chart renders. A lossless line edit of the route's document: only the backend's
//! `name` and port lines change; the result is parsed back and must equal the structural edit.

use serde_json::Value;

use crate::error::Result;
use crate::yaml;

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// (`key`, value text without a trailing comment) of a `key: value` line, after any `- `.
fn key_value(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_start_matches(' ').trim_start_matches("- ").trim_end_matches(['\r', '\n']);
    let (k, v) = t.split_once(':')?;
    if !(v.is_empty() || v.starts_with(' ')) {
        return None;
    }
    let v = v.split(" #").next().unwrap_or("").trim();
    Some((k.trim(), v.trim_matches(|c| c == '"' || c == '\'')))
}

/// The line with `key`'s value replaced by `value`, keeping indentation, `- ` and any comment.
fn replace_value(line: &str, key: &str, value: &str) -> String {
    let eol = if line.ends_with("\r\n") { "\r\n" } else if line.ends_with('\n') { "\n" } else { "" };
    let body = line.trim_end_matches(['\r', '\n']);
    let at = body.find(&format!("{key}:")).map_or(0, |i| i + key.len() + 1);
    let comment = body[at..].find(" #").map(|i| &body[at + i..]).unwrap_or("");
    format!("{}{key}: {value}{comment}{eol}", &body[..at - key.len() - 1])
}

/// The structural edit the text edit must match.
fn edit_value(kind: &str, v: &mut Value, from: &str, to: &str, port: i64) {
    let set = |b: &mut Value, port_key: &[&str]| {
        if b.get("name").and_then(Value::as_str) == Some(from) {
            b["name"] = Value::String(to.to_string());
            match port_key {
                ["port"] => b["port"] = port.into(),
                _ => b["port"] = serde_json::json!({ "number": port }),
            }
        }
    };
    let Some(rules) = v.pointer_mut("/spec/rules").and_then(Value::as_array_mut) else { return };
    for rule in rules {
        if kind == "HTTPRoute" {
            for b in rule.get_mut("backendRefs").and_then(Value::as_array_mut).into_iter().flatten() {
                set(b, &["port"]);
            }
        } else {
            for p in rule.pointer_mut("/http/paths").and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(s) = p.pointer_mut("/backend/service") {
                    set(s, &["port", "number"]);
                }
            }
        }
    }
    if kind == "Ingress"
        && let Some(s) = v.pointer_mut("/spec/defaultBackend/service") {
            set(s, &["port", "number"]);
        }
}

/// `doc` with every backend named `from` pointed at `to`:`port`. `Ok(None)`: a layout this
/// editor does not change safely (flow style…); the caller asks for a hand edit.
pub fn point_backends(file: &str, kind: &str, doc: &str, from: &str, to: &str, port: i64) -> Result<Option<String>> {
    let before = yaml::parse_str(file, doc)?;
    let mut expected = before.clone();
    edit_value(kind, &mut expected, from, to, port);
    let mut lines: Vec<String> = doc.split_inclusive('\n').map(str::to_string).collect();
    // The blocks that hold a backend: `backendRefs:` list items (HTTPRoute), `service:` (Ingress).
    let block_key = if kind == "HTTPRoute" { "backendRefs" } else { "service" };
    let mut i = 0;
    while i < lines.len() {
        let Some((k, v)) = key_value(&lines[i]) else { i += 1; continue };
        if k != block_key || !v.is_empty() {
            i += 1;
            continue;
        }
        let base = indent(&lines[i]);
        let end = (i + 1..lines.len()).find(|&j| !lines[j].trim().is_empty() && !lines[j].trim_start().starts_with('#') && indent(&lines[j]) <= base).unwrap_or(lines.len());
        // Entries: for backendRefs each `- ` item; for service the block itself.
        let mut entries: Vec<(usize, usize)> = Vec::new();
        if kind == "HTTPRoute" {
            let starts: Vec<usize> = (i + 1..end).filter(|&j| lines[j].trim_start().starts_with("- ")).collect();
            let item_indent = starts.first().map(|&j| indent(&lines[j]));
            let starts: Vec<usize> = starts.into_iter().filter(|&j| Some(indent(&lines[j])) == item_indent).collect();
            for (n, &s) in starts.iter().enumerate() {
                entries.push((s, starts.get(n + 1).copied().unwrap_or(end)));
            }
        } else {
            entries.push((i + 1, end));
        }
        for (s, e) in entries {
            // The entry's own keys sit at one indent (a `- ` counts as indentation).
            let at = |j: usize, lines: &[String]| indent(&lines[j]) + if lines[j].trim_start().starts_with("- ") { 2 } else { 0 };
            let Some(key_indent) = (s..e).find(|&j| !lines[j].trim().is_empty() && !lines[j].trim_start().starts_with('#')).map(|j| at(j, &lines)) else { continue };
            let at_key = |j: usize, lines: &[String]| at(j, lines) == key_indent;
            let name = (s..e).find(|&j| at_key(j, &lines) && key_value(&lines[j]).is_some_and(|(k, v)| k == "name" && v == from));
            let Some(name) = name else { continue };
            let port_line = (s..e).find(|&j| at_key(j, &lines) && key_value(&lines[j]).is_some_and(|(k, _)| k == "port"));
            lines[name] = replace_value(&lines[name], "name", to);
            match (kind, port_line) {
                ("HTTPRoute", Some(p)) => lines[p] = replace_value(&lines[p], "port", &port.to_string()),
                // A Service backendRef without a port is invalid anyway: not ours to guess.
                ("HTTPRoute", None) => return Ok(None),
                (_, Some(p)) => {
                    // `port:` then `number: N` or `name: http` one level deeper.
                    let inner = (p + 1..e).find(|&j| !lines[j].trim().is_empty() && indent(&lines[j]) > key_indent);
                    match inner {
                        Some(j) => lines[j] = {
                            let pad = " ".repeat(indent(&lines[j]));
                            let eol = if lines[j].ends_with("\r\n") { "\r\n" } else { "\n" };
                            format!("{pad}number: {port}{eol}")
                        },
                        None => return Ok(None),
                    }
                }
                (_, None) => return Ok(None),
            }
        }
        i = end;
    }
    let text = lines.concat();
    Ok((yaml::parse_str(file, &text).is_ok_and(|after| after == expected)).then_some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn httproute_backend_renamed_and_reported() {
        let doc = "kind: HTTPRoute\nmetadata:\n  name: web # same name as the Service\nspec:\n  rules:\n    - backendRefs:\n        - name: web # the app\n          port: 8080\n        - name: other\n          port: 80\n";
        let out = point_backends("r.yaml", "HTTPRoute", doc, "web", "open-webui", 80).unwrap().unwrap();
        assert_eq!(out, "kind: HTTPRoute\nmetadata:\n  name: web # same name as the Service\nspec:\n  rules:\n    - backendRefs:\n        - name: open-webui # the app\n          port: 80\n        - name: other\n          port: 80\n");
    }

    #[test]
    fn ingress_backend_port_number() {
        let doc = "kind: Ingress\nmetadata:\n  name: web\nspec:\n  rules:\n    - http:\n        paths:\n          - path: /\n            backend:\n              service:\n                name: web\n                port:\n                  name: http\n";
        let out = point_backends("i.yaml", "Ingress", doc, "web", "open-webui", 80).unwrap().unwrap();
        assert!(out.ends_with("                name: open-webui\n                port:\n                  number: 80\n"), "{out}");
    }

    #[test]
    fn flow_style_needs_a_hand_edit() {
        let doc = "kind: HTTPRoute\nspec:\n  rules: [{backendRefs: [{name: web, port: 8080}]}]\n";
        assert!(point_backends("r.yaml", "HTTPRoute", doc, "web", "x", 80).unwrap().is_none());
    }
}
