//! `--set app.path=value` and `--values app=FILE`: user values merged into one app's values.

use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// (app, values path, value, what the user wrote)
    pub sets: Vec<(String, String, Value, String)>,
    /// (app, file, parsed values)
    pub files: Vec<(String, String, Value)>,
}

/// Type a `--set` value the way `helm --set` does: booleans, null and integers are typed,
/// `{a,b}` is a list, anything else is a string.
pub fn typed(v: &str) -> Value {
    if let Some(inner) = v.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        return Value::Array(if inner.is_empty() { vec![] } else { inner.split(',').map(typed).collect() });
    }
    match v {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => v.parse::<i64>().ok().filter(|_| !(v.starts_with('0') && v.len() > 1)).map_or_else(|| Value::String(v.into()), Value::from),
    }
}

impl Overrides {
    pub fn add_set(&mut self, arg: &str) -> Result<()> {
        let bad = || Error::usage("parse --set", format!("`{arg}` is not APP.PATH=VALUE (e.g. open-webui.pipelines.enabled=true)"));
        let (lhs, value) = arg.split_once('=').ok_or_else(bad)?;
        let (app, path) = lhs.split_once('.').ok_or_else(bad)?;
        if app.is_empty() || path.is_empty() {
            return Err(bad());
        }
        self.sets.push((app.into(), path.into(), typed(value), arg.into()));
        Ok(())
    }

    pub fn add_values_file(&mut self, arg: &str) -> Result<()> {
        let (app, file) = arg.split_once('=').filter(|(a, f)| !a.is_empty() && !f.is_empty())
            .ok_or_else(|| Error::usage("parse --values", format!("`{arg}` is not APP=FILE")))?;
        let text = crate::source::repo::read_text(std::path::Path::new(file), file)?;
        let value = crate::yaml::parse_str(file, &text)?;
        if !(value.is_object() || value.is_null()) {
            return Err(Error::input(file, None, "a values file must be a YAML mapping"));
        }
        self.files.push((app.into(), file.into(), value));
        Ok(())
    }

    pub fn apps(&self) -> impl Iterator<Item = &str> {
        self.sets.iter().map(|s| s.0.as_str()).chain(self.files.iter().map(|f| f.0.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typing_follows_helm() {
        assert_eq!(typed("true"), json!(true));
        assert_eq!(typed("3"), json!(3));
        assert_eq!(typed("007"), json!("007"));
        assert_eq!(typed("1.5"), json!("1.5"));
        assert_eq!(typed("{a,2}"), json!(["a", 2]));
    }

    #[test]
    fn set_needs_app_and_path() {
        let mut o = Overrides::default();
        o.add_set("open-webui.tika.enabled=true").unwrap();
        assert_eq!(o.sets[0].1, "tika.enabled");
        assert!(o.add_set("novalue").is_err());
        assert!(o.add_set("app=1").is_err());
    }
}
