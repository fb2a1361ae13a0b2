//! Values keys the chart never reads: every leaf path of the generated values is looked up in
//! the chart's values.yaml and values.schema.json. A chart without a schema ignores unknown keys
//! silently, so a typo (`gpuCount`) or a wrong level (`sso.oidc.mergeAccountsByEmail`) is only
//! visible this way.

use std::path::Path;

use serde_json::Value;

/// What a chart declares: its values.yaml, its schema, and its sub-charts' values by name.
pub struct ChartKeys {
    values: Value,
    schema: Option<Value>,
    /// (sub-chart name, its values.yaml or None when only packaged).
    subcharts: Vec<(String, Option<Value>)>,
}

impl ChartKeys {
    /// Read `dir`'s values.yaml and values.schema.json (and `charts/*`). Unreadable files count
    /// as empty: the render itself reports a broken chart.
    pub fn load(dir: &Path) -> ChartKeys {
        let values = read_values(&dir.join("values.yaml"));
        let schema = std::fs::read_to_string(dir.join("values.schema.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
        let mut subcharts = Vec::new();
        for e in std::fs::read_dir(dir.join("charts")).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                subcharts.push((name, Some(read_values(&p.join("values.yaml")))));
            } else if let Some(stem) = name.strip_suffix(".tgz") {
                // `name-1.2.3.tgz`: the name is everything before the version.
                let n = stem.rsplit_once('-').map_or(stem, |(n, _)| n);
                subcharts.push((n.to_string(), None));
            }
        }
        ChartKeys { values, schema, subcharts }
    }

    /// Leaf paths of `values` the chart does not know, as `a.b\.c` strings.
    pub fn unread(&self, values: &Value) -> Vec<String> {
        let mut leaves = Vec::new();
        leaf_paths(values, &mut Vec::new(), &mut leaves);
        leaves.into_iter().filter(|p| !self.known(p)).map(|p| display(&p)).collect()
    }

    fn known(&self, path: &[String]) -> bool {
        if path.first().is_some_and(|p| p == "global") {
            return true; // global values are shared free-form with every sub-chart
        }
        if in_values(&self.values, path) || self.schema.as_ref().is_some_and(|s| in_schema(s, s, path, 0)) {
            return true;
        }
        let Some((first, rest)) = path.split_first() else { return true };
        self.subcharts.iter().filter(|(n, _)| n == first).any(|(_, v)| match v {
            Some(v) => rest == ["enabled"] || in_values(v, rest),
            None => true,
        })
    }
}

fn read_values(p: &Path) -> Value {
    std::fs::read_to_string(p).ok().and_then(|t| crate::yaml::parse_str(&p.display().to_string(), &t).ok()).unwrap_or(Value::Null)
}

/// Leaves: scalars, lists and empty maps (a list is one value to a chart).
fn leaf_paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                prefix.push(k.clone());
                leaf_paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ if prefix.is_empty() => {}
        _ => out.push(prefix.clone()),
    }
}

pub fn display(path: &[String]) -> String {
    path.iter().map(|s| s.replace('.', "\\.")).collect::<Vec<_>>().join(".")
}

/// values.yaml declares the path, or an ancestor that takes free-form content (`{}`, a list, null).
fn in_values(values: &Value, path: &[String]) -> bool {
    let mut node = values;
    for seg in path {
        match node {
            Value::Object(m) if m.is_empty() => return true,
            Value::Object(m) => match m.get(seg) {
                Some(n) => node = n,
                None => return false,
            },
            Value::Array(_) | Value::Null => return true,
            _ => return false,
        }
    }
    true
}

/// The schema names the path in `properties`, or allows it with `additionalProperties` /
/// `patternProperties`, directly or through `$ref`, `allOf`, `anyOf`, `oneOf`.
fn in_schema(root: &Value, node: &Value, path: &[String], depth: usize) -> bool {
    if depth > 32 {
        return false; // a $ref cycle
    }
    let node = match node.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => match root.pointer(pointer) {
            Some(n) => n,
            None => return false,
        },
        None => node,
    };
    if node.as_bool() == Some(true) {
        return true;
    }
    let Some((seg, rest)) = path.split_first() else { return true };
    for key in ["allOf", "anyOf", "oneOf"] {
        if node.get(key).and_then(Value::as_array).into_iter().flatten().any(|b| in_schema(root, b, path, depth + 1)) {
            return true;
        }
    }
    if let Some(p) = node.get("properties").and_then(|p| p.get(seg)) {
        return in_schema(root, p, rest, depth + 1);
    }
    if node.get("patternProperties").and_then(Value::as_object).is_some_and(|m| !m.is_empty()) {
        return true;
    }
    match node.get("additionalProperties") {
        Some(Value::Bool(b)) => *b,
        Some(a @ Value::Object(_)) => in_schema(root, a, rest, depth + 1),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(values: Value, schema: Option<Value>) -> ChartKeys {
        ChartKeys { values, schema, subcharts: vec![("tika".into(), Some(json!({"image": {"tag": ""}})))] }
    }

    #[test]
    fn values_yaml_and_free_form_ancestors() {
        let k = keys(json!({"image": {"tag": ""}, "podLabels": {}, "extraEnv": [], "sso": {"oidc": {"clientId": ""}}}), None);
        let v = json!({"image": {"tag": "1", "bogus": 1}, "podLabels": {"a": "b"}, "extraEnv": [{"name": "X"}],
                       "sso": {"oidc": {"mergeAccountsByEmail": true}}, "tika": {"enabled": true, "image": {"tag": "x"}}, "global": {"a": 1}});
        assert_eq!(k.unread(&v), ["image.bogus", "sso.oidc.mergeAccountsByEmail"]);
    }

    #[test]
    fn schema_properties_and_additional_properties() {
        let schema = json!({"properties": {"a": {"$ref": "#/$defs/free"}, "b": {"properties": {"c": {"type": "string"}}}}, "$defs": {"free": {"additionalProperties": true}}});
        let k = keys(json!({}), Some(schema));
        // values.yaml `{}` at the root would allow anything: use a non-empty one.
        let k = ChartKeys { values: json!({"x": 1}), ..k };
        assert_eq!(k.unread(&json!({"a": {"z": 1}, "b": {"c": "s", "d": 1}})), ["b.d"]);
    }

    #[test]
    fn dotted_keys_are_escaped() {
        assert_eq!(display(&["resources".into(), "nvidia.com/gpu".into()]), "resources.nvidia\\.com/gpu");
    }
}
