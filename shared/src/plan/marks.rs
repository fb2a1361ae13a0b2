//! A lossless editor that adds annotations and labels to one document's `metadata`: only the
//! lines of the new (or changed) entries are touched, so comments, order and quoting survive.
//! The result is parsed back and must equal the original object with the entries set.

use serde_json::Value;

use crate::error::Result;
use crate::yaml;

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn significant(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// The key of a block-mapping line (`key:` / `key: value`), unquoted.
fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start_matches(' ');
    let t = t.trim_end_matches(['\r', '\n']);
    let (k, rest) = t.split_once(':')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some(k.trim().trim_matches(|c| c == '"' || c == '\''))
}

fn quote(s: &str) -> String {
    yaml::to_yaml(&Value::String(s.to_string()), &Default::default()).trim_end().to_string()
}

/// `doc` (one document's text) with `section` (`annotations`/`labels`) of its top-level
/// `metadata` holding `entries`. `None` when the layout is not one this editor can change
/// without rewriting the document (flow style, anchors…): the caller asks for a hand edit.
fn set_section(doc: &str, section: &str, entries: &[(&str, &str)], eol: &str) -> Option<String> {
    let mut lines: Vec<String> = doc.split_inclusive('\n').map(str::to_string).collect();
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        let last = lines.len() - 1;
        lines[last].push_str(eol);
    }
    let meta = lines.iter().position(|l| indent(l) == 0 && key_of(l) == Some("metadata") && l.trim_end().ends_with(':'))?;
    let end = (meta + 1..lines.len()).find(|&i| significant(&lines[i]) && indent(&lines[i]) == 0).unwrap_or(lines.len());
    let child = (meta + 1..end).find(|&i| significant(&lines[i])).map(|i| indent(&lines[i]))?;
    let last_child = (meta + 1..end).rev().find(|&i| significant(&lines[i]))?;
    let sec = (meta + 1..end).find(|&i| indent(&lines[i]) == child && key_of(&lines[i]) == Some(section));
    match sec {
        Some(s) => {
            let rest = lines[s].split_once(':').map(|(_, r)| r.trim()).unwrap_or_default().to_string();
            let sec_end = (s + 1..end).find(|&i| significant(&lines[i]) && indent(&lines[i]) <= child).unwrap_or(end);
            let items: Vec<usize> = (s + 1..sec_end).filter(|&i| significant(&lines[i])).collect();
            if rest == "{}" && items.is_empty() {
                let pad = " ".repeat(child);
                lines[s] = format!("{pad}{section}:{eol}");
                let new: Vec<String> = entries.iter().map(|(k, v)| format!("{pad}  {k}: {}{eol}", quote(v))).collect();
                lines.splice(s + 1..s + 1, new);
                return Some(lines.concat());
            }
            if !(rest.is_empty() || rest.starts_with('#')) || items.is_empty() {
                return None;
            }
            let item_indent = indent(&lines[items[0]]);
            // After the section's last line (a block scalar's lines belong to their item).
            let insert_at = items[items.len() - 1] + 1;
            let mut new = Vec::new();
            for (k, v) in entries {
                let line = format!("{}{k}: {}{eol}", " ".repeat(item_indent), quote(v));
                match items.iter().find(|&&i| indent(&lines[i]) == item_indent && key_of(&lines[i]) == Some(k)) {
                    Some(&i) => {
                        lines[i] = line;
                    }
                    None => new.push(line),
                }
            }
            lines.splice(insert_at..insert_at, new);
        }
        None => {
            let pad = " ".repeat(child);
            let mut new = vec![format!("{pad}{section}:{eol}")];
            new.extend(entries.iter().map(|(k, v)| format!("{pad}  {k}: {}{eol}", quote(v))));
            lines.splice(last_child + 1..last_child + 1, new);
        }
    }
    Some(lines.concat())
}

/// `doc` with the annotations and labels set, checked by parsing it back. `Ok(None)`: the
/// document's layout needs a hand edit; `Ok(Some(doc))` unchanged when everything is there.
pub fn mark(file: &str, doc: &str, annotations: &[(&str, &str)], labels: &[(&str, &str)]) -> Result<Option<String>> {
    let before = yaml::parse_str(file, doc)?;
    let mut expected = before.clone();
    let eol = if doc.contains("\r\n") { "\r\n" } else { "\n" };
    let mut text = doc.to_string();
    for (section, entries) in [("annotations", annotations), ("labels", labels)] {
        let missing: Vec<(&str, &str)> = entries.iter().copied()
            .filter(|(k, v)| before.pointer(&format!("/metadata/{section}")).and_then(|m| m.get(*k)).and_then(Value::as_str) != Some(*v))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let Some(edited) = set_section(&text, section, &missing, eol) else { return Ok(None) };
        text = edited;
        let Some(meta) = expected.get_mut("metadata").and_then(Value::as_object_mut) else { return Ok(None) };
        let sec = meta.entry(section).or_insert_with(|| Value::Object(Default::default()));
        if sec.is_null() {
            *sec = Value::Object(Default::default());
        }
        let Some(sec) = sec.as_object_mut() else { return Ok(None) };
        for (k, v) in missing {
            sec.insert(k.to_string(), Value::String(v.to_string()));
        }
    }
    // Keep the document's own ending: a last line without a newline stays without one.
    if !doc.ends_with('\n') && text != doc && text.ends_with(eol) {
        text.truncate(text.len() - eol.len());
    }
    match yaml::parse_str(file, &text) {
        Ok(after) if after == expected => Ok(Some(text)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRUNE: (&str, &str) = ("kustomize.toolkit.fluxcd.io/prune", "disabled");

    #[test]
    fn adds_a_section_after_the_last_metadata_line() {
        let doc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: ollama # keep\n  labels:\n    app: ollama\nspec:\n  ports: []\n";
        let out = mark("s.yaml", doc, &[PRUNE], &[("app.kubernetes.io/managed-by", "Helm")]).unwrap().unwrap();
        assert_eq!(out, "apiVersion: v1\nkind: Service\nmetadata:\n  name: ollama # keep\n  labels:\n    app: ollama\n    app.kubernetes.io/managed-by: Helm\n  annotations:\n    kustomize.toolkit.fluxcd.io/prune: disabled\nspec:\n  ports: []\n");
        // Idempotent.
        assert_eq!(mark("s.yaml", &out, &[PRUNE], &[("app.kubernetes.io/managed-by", "Helm")]).unwrap().unwrap(), out);
    }

    #[test]
    fn extends_and_updates_existing_annotations() {
        let doc = "kind: PersistentVolumeClaim\nmetadata:\n    name: data\n    annotations:\n        note: |\n            two\n            lines\n        kustomize.toolkit.fluxcd.io/prune: enabled\nspec: {}\n";
        let out = mark("p.yaml", doc, &[PRUNE, ("x", "1")], &[]).unwrap().unwrap();
        assert!(out.contains("        kustomize.toolkit.fluxcd.io/prune: disabled\n        x: \"1\"\nspec: {}\n"), "{out}");
        assert!(out.contains("note: |\n            two\n            lines\n"));
    }

    #[test]
    fn crlf_and_empty_flow_map() {
        let doc = "kind: Service\r\nmetadata:\r\n  name: a\r\n  annotations: {}\r\nspec: {}\r\n";
        let out = mark("s.yaml", doc, &[PRUNE], &[]).unwrap().unwrap();
        assert_eq!(out, "kind: Service\r\nmetadata:\r\n  name: a\r\n  annotations:\r\n    kustomize.toolkit.fluxcd.io/prune: disabled\r\nspec: {}\r\n");
    }

    #[test]
    fn flow_metadata_needs_a_hand_edit() {
        assert!(mark("s.yaml", "kind: Service\nmetadata: {name: a}\n", &[PRUNE], &[]).unwrap().is_none());
        assert!(mark("s.yaml", "kind: Service\nmetadata:\n  name: a\n  annotations: {b: c}\n", &[PRUNE], &[]).unwrap().is_none());
    }
}
