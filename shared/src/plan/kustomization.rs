//! A lossless editor for a kustomization's `resources` list: it changes only the lines of the
//! entries it removes or adds, so comments, ordering, quoting and line endings all survive.
//! The result is parsed back and checked before it is used.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::yaml;

fn item_value(line: &str) -> Option<(usize, String)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = line[indent..].trim_end_matches(['\r', '\n']);
    let rest = rest.strip_prefix('-')?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    let v = rest.split(" #").next().unwrap_or("").trim();
    Some((indent, v.trim_matches(|c| c == '"' || c == '\'').to_string()))
}

fn entries(value: &Value) -> Vec<String> {
    value.get("resources").and_then(Value::as_array).map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Remove `remove` entries from the resources list and append `add` entries (skipping ones
/// already listed).
pub fn edit_resources(file: &str, text: &str, remove: &[String], add: &[String]) -> Result<String> {
    let before = yaml::parse_str(file, text)?;
    let mut expected: Vec<String> = entries(&before).into_iter().filter(|e| !remove.contains(e)).collect();
    let add: Vec<&String> = add.iter().filter(|a| !expected.contains(a)).collect();
    expected.extend(add.iter().map(|a| a.to_string()));

    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        let last = lines.len() - 1;
        lines[last].push_str(eol);
    }
    let key = lines.iter().position(|l| {
        let t = l.trim_end();
        t == "resources:" || t.starts_with("resources: #") || t.starts_with("resources:\t#")
    });
    let quote = |s: &str| yaml::to_yaml(&Value::String(s.to_string()), &Default::default()).trim_end().to_string();
    match key {
        Some(k) => {
            let mut indent = 2;
            let mut last_item = k;
            let mut i = k + 1;
            let mut found = false;
            while i < lines.len() {
                let t = lines[i].trim();
                if t.is_empty() || t.starts_with('#') {
                    i += 1;
                    continue;
                }
                match item_value(&lines[i]) {
                    Some((ind, v)) => {
                        indent = ind;
                        found = true;
                        if remove.contains(&v) {
                            lines.remove(i);
                            continue;
                        }
                        last_item = i;
                        i += 1;
                    }
                    None => break,
                }
            }
            if !found {
                indent = 2;
            }
            for (n, a) in add.iter().enumerate() {
                lines.insert(last_item + 1 + n, format!("{}- {}{eol}", " ".repeat(indent), quote(a)));
            }
        }
        None if before.get("resources").is_some() => {
            return Err(Error::input(file, None, "`resources` is not a block list: write it as one `- entry` per line, then run again"));
        }
        None => {
            lines.push(format!("resources:{eol}"));
            for a in &add {
                lines.push(format!("  - {}{eol}", quote(a)));
            }
        }
    }
    let out = lines.concat();
    let after = yaml::parse_str(file, &out)?;
    if entries(&after) != expected {
        return Err(Error::input(file, None, "could not edit `resources` without disturbing the file: make the change by hand"));
    }
    Ok(out)
}

/// Remove the items at `indices` of the top-level block list `field`, changing only their
/// lines (the key goes too when no item is left). `None` when the list is not written one
/// `- item` per block, so the caller can say what to edit by hand.
pub fn remove_items(file: &str, text: &str, field: &str, indices: &[usize]) -> Result<Option<String>> {
    let before = yaml::parse_str(file, text)?;
    let Some(items) = before.get(field).and_then(Value::as_array) else { return Ok(None) };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let indent_of = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let Some(key) = lines.iter().position(|l| l.trim_end().strip_prefix(field).is_some_and(|r| r.starts_with(':') && r[1..].trim_start().is_empty_or_comment()) && indent_of(l) == 0) else {
        return Ok(None);
    };
    // Each item: (first line, end line exclusive).
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut item_indent = None;
    let mut end = lines.len();
    for (i, l) in lines.iter().enumerate().skip(key + 1) {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let ind = indent_of(l);
        let is_item = t == "-" || t.starts_with("- ");
        match item_indent {
            None if is_item => item_indent = Some(ind),
            None => return Ok(None),
            Some(ii) if ind < ii || (ind == ii && !is_item) => {
                end = i;
                break;
            }
            Some(ii) if ind == ii => {}
            Some(_) => continue,
        }
        if let Some(last) = spans.last_mut() {
            last.1 = i;
        }
        spans.push((i, lines.len()));
    }
    if let Some(last) = spans.last_mut() {
        // The last item ends at the first line past it, trailing blank/comment lines kept.
        let mut e = end;
        while e > last.0 + 1 && { let t = lines[e - 1].trim(); t.is_empty() || t.starts_with('#') } {
            e -= 1;
        }
        last.1 = e;
    }
    if spans.len() != items.len() {
        return Ok(None);
    }
    let drop_key = indices.len() == items.len();
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let in_removed = spans.iter().enumerate().any(|(n, (a, b))| indices.contains(&n) && i >= *a && i < *b);
        if in_removed || (drop_key && i == key) {
            continue;
        }
        out.push_str(l);
    }
    let after = yaml::parse_str(file, &out)?;
    let expected: Vec<&Value> = items.iter().enumerate().filter(|(n, _)| !indices.contains(n)).map(|(_, v)| v).collect();
    let got: Vec<&Value> = after.get(field).and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
    fn rest_same<'v>(v: &'v Value, field: &str) -> Option<Vec<(&'v String, &'v Value)>> {
        v.as_object().map(|m| m.iter().filter(|(k, _)| *k != field).collect())
    }
    if got != expected || rest_same(&after, field) != rest_same(&before, field) {
        return Ok(None);
    }
    Ok(Some(out))
}

trait EmptyOrComment {
    fn is_empty_or_comment(&self) -> bool;
}

impl EmptyOrComment for str {
    fn is_empty_or_comment(&self) -> bool {
        self.is_empty() || self.starts_with('#')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_comments_order_and_other_keys() {
        let t = "# app\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  # the workload\n  - statefulset.yaml\n  - service.yaml # svc\n  - ./httproute.yaml\nlabels:\n  - pairs: {a: b}\n";
        let out = edit_resources("k", t, &["statefulset.yaml".into(), "service.yaml".into()], &["helmrelease.yaml".into()]).unwrap();
        assert_eq!(out, "# app\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  # the workload\n  - ./httproute.yaml\n  - helmrelease.yaml\nlabels:\n  - pairs: {a: b}\n");
    }

    #[test]
    fn crlf_and_unindented_items() {
        let t = "resources:\r\n- a.yaml\r\n- b.yaml\r\n";
        let out = edit_resources("k", t, &["a.yaml".into()], &["helmrelease.yaml".into()]).unwrap();
        assert_eq!(out, "resources:\r\n- b.yaml\r\n- helmrelease.yaml\r\n");
    }

    #[test]
    fn adds_missing_list_and_is_idempotent() {
        let out = edit_resources("k", "kind: Kustomization", &[], &["x.yaml".into()]).unwrap();
        assert_eq!(out, "kind: Kustomization\nresources:\n  - x.yaml\n");
        assert_eq!(edit_resources("k", &out, &[], &["x.yaml".into()]).unwrap(), out);
    }

    #[test]
    fn removes_whole_items_and_keeps_the_rest() {
        let t = "resources:\n  - a.yaml\npatches:\n  # first\n  - path: p.yaml\n  - target:\n      kind: Deployment\n      name: web\n    patch: |-\n      - op: add\n        path: /x\n        value: 1\n\n  - path: q.yaml # keep\nreplicas:\n  - name: web\n    count: 2\n";
        let out = remove_items("k", t, "patches", &[1]).unwrap().unwrap();
        assert_eq!(out, "resources:\n  - a.yaml\npatches:\n  # first\n  - path: p.yaml\n  - path: q.yaml # keep\nreplicas:\n  - name: web\n    count: 2\n");
        let out = remove_items("k", &out, "replicas", &[0]).unwrap().unwrap();
        assert_eq!(out, "resources:\n  - a.yaml\npatches:\n  # first\n  - path: p.yaml\n  - path: q.yaml # keep\n");
        assert!(remove_items("k", "patches: [{path: a}]\n", "patches", &[0]).unwrap().is_none());
    }

    #[test]
    fn flow_lists_are_refused_not_mangled() {
        let e = edit_resources("k.yaml", "resources: [a.yaml]\n", &["a.yaml".into()], &[]).unwrap_err();
        assert!(e.to_string().starts_with("failed to load k.yaml: `resources` is not a block list"), "{e}");
    }
}
