use serde_json::{Map, Value};

use crate::yaml::Comments;

/// Helm values under construction: a JSON object addressed by dotted paths, plus line comments.
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub root: Map<String, Value>,
    pub comments: Comments,
}

/// Split `a.b\.c.d` into `["a", "b.c", "d"]`.
pub fn split_path(path: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                parts.last_mut().unwrap().push('.');
                chars.next();
            }
            '.' => parts.push(String::new()),
            c => parts.last_mut().unwrap().push(c),
        }
    }
    parts
}

impl Values {
    pub fn set(&mut self, path: &str, value: impl Into<Value>) {
        let parts = split_path(path);
        let (last, parents) = parts.split_last().expect("split_path returns at least one part");
        let mut node = &mut self.root;
        for p in parents {
            let entry = node.entry(p.clone()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            node = entry.as_object_mut().expect("made an object above");
        }
        node.insert(last.clone(), value.into());
    }

    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut node = self.root.get(&split_path(path)[0])?;
        for p in split_path(path).iter().skip(1) {
            node = node.get(p)?;
        }
        Some(node)
    }

    /// Append to the list at `path`, creating it.
    pub fn push(&mut self, path: &str, value: Value) {
        match self.get(path) {
            Some(Value::Array(a)) => {
                let mut a = a.clone();
                a.push(value);
                self.set(path, a);
            }
            _ => self.set(path, vec![value]),
        }
    }

    pub fn comment(&mut self, path: &str, text: impl Into<String>) {
        self.comments.insert(path.to_string(), text.into());
    }
}

/// Deep-merge `over` into `base`: maps merge key by key, anything else replaces.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Every leaf path of a values tree (`a.b`, `list`), for ledgering user overrides.
pub fn leaf_paths(v: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = k.replace('.', "\\.");
                let p = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
                leaf_paths(v, &p, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_get_push_and_escaped_dots() {
        let mut v = Values::default();
        v.set("a.b", 1);
        v.set("r.limits.nvidia\\.com/gpu", 1);
        v.push("l", json!("x"));
        v.push("l", json!("y"));
        assert_eq!(Value::Object(v.root.clone()), json!({"a": {"b": 1}, "r": {"limits": {"nvidia.com/gpu": 1}}, "l": ["x", "y"]}));
        assert_eq!(v.get("r.limits.nvidia\\.com/gpu"), Some(&json!(1)));
    }

    #[test]
    fn merge_is_deep_for_maps_only() {
        let mut b = json!({"a": {"x": 1, "y": [1]}, "k": 1});
        merge(&mut b, &json!({"a": {"y": [2], "z": true}}));
        assert_eq!(b, json!({"a": {"x": 1, "y": [2], "z": true}, "k": 1}));
    }
}
