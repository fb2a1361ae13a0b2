//! Values no output may show: a Secret's data, a SOPS payload, and literal values of env vars
//! whose names look secret (`WEBUI_SECRET_KEY: …`). Files helmigrate writes keep them exactly (the
//! chart needs them, and they were in Git already); everything printed or recorded outside those
//! files goes through [`Hidden::redact`] (text) or [`Hidden::redact_json`] (structured output).
//!
//! A value is masked wherever it occurs, unless the input also uses the same text as an ordinary
//! word — an app name, a path, a hostname, another setting (`PASSWORD=homeassistant` in app
//! `homeassistant`). Such a value is masked only where it stands *as a value*: after `value:` of
//! an env entry whose name looks secret (or is not shown), after a secret-looking key
//! (`openaiApiKey: …`, `--set …password=…`), after a key it had in a Secret's data, or alone on
//! a line (a line of a multi-line value).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use crate::model::workload::looks_secret;
use crate::source::repo::is_sops;

/// What a hidden value is shown as.
pub const MASK: &str = "(hidden)";
/// Shorter values, numbers and booleans are not masked (replacing `true` or `auto` everywhere
/// would garble every diff and ledger, and a value that short protects little).
const MIN_LEN: usize = 8;
/// Ordinary strings longer than this (embedded documents, config files) are not kept to judge
/// values by: a secret inside one must stay masked everywhere.
const ORDINARY_MAX: usize = 253;

/// The strings to mask, longest first (so a value that contains another is masked whole), each
/// with the keys it was seen under (lower-case), and the ordinary strings of the input.
#[derive(Debug, Clone, Default)]
pub struct Hidden {
    values: Vec<(String, BTreeSet<String>)>,
    ordinary: HashSet<String>,
}

impl Hidden {
    /// Everything secret in the YAML/JSON documents of one file's text. Documents that do not
    /// parse are skipped: a file that fails to parse fails the command before anything prints it.
    pub fn from_text(text: &str) -> Self {
        let mut h = Hidden::default();
        h.add_text(text);
        h
    }

    pub fn add_text(&mut self, text: &str) {
        if !(text.contains("Secret") || text.contains("sops") || text.contains("value")) {
            return;
        }
        for d in crate::yaml::split_documents(text).iter().filter(|d| !d.is_blank()) {
            if let Ok(v) = crate::yaml::parse_document("", d) {
                self.add_value(&v);
            }
        }
    }

    /// Everything secret in one parsed object (and its ordinary strings, see the module doc).
    pub fn add_value(&mut self, v: &Value) {
        let kind = v.get("kind").and_then(Value::as_str);
        let sops = is_sops(v);
        if sops {
            // Every encrypted field, and the envelope's keys and MAC.
            leaves(v, &mut |_, s| if s.starts_with("ENC[") { self.add(s) });
            if let Some(s) = v.get("sops") {
                leaves(s, &mut |_, s| if s.len() > 16 { self.add(s) });
            }
        }
        let secret = kind == Some("Secret");
        if secret {
            if let Some(data) = v.get("data") {
                leaves(data, &mut |key, s| {
                    self.add_keyed(s, key);
                    if let Some(plain) = base64_decode(s) {
                        self.add_keyed(&plain, key);
                    }
                });
            }
            if let Some(data) = v.get("stringData") {
                // The apiserver hands stringData back as base64 `data`.
                leaves(data, &mut |key, s| {
                    self.add_keyed(s, key);
                    self.add_keyed(&base64_encode(s.as_bytes()), key);
                });
            }
        }
        self.add_env(v);
        self.add_ordinary(v, secret, sops);
    }

    /// `{name: <secret-looking>, value: "…"}` anywhere: env lists of every container, and the
    /// same lists once they are chart values.
    fn add_env(&mut self, v: &Value) {
        match v {
            Value::Object(m) => {
                if let (Some(Value::String(name)), Some(Value::String(value))) = (m.get("name"), m.get("value")) {
                    // OAUTH_SCOPES and the like are settings (the ledger shows them); the
                    // credentials among them still match (OAUTH_CLIENT_SECRET).
                    if secret_env(name, value) {
                        self.add_keyed(value, Some(&name.to_ascii_lowercase()));
                    }
                }
                m.values().for_each(|x| self.add_env(x));
            }
            Value::Array(a) => a.iter().for_each(|x| self.add_env(x)),
            _ => {}
        }
    }

    /// The strings of `v` outside secret positions: names, labels, hostnames, paths, settings.
    fn add_ordinary(&mut self, v: &Value, secret: bool, sops: bool) {
        fn keep(h: &mut Hidden, s: &str, sops: bool) {
            let skip = s.len() > ORDINARY_MAX || s.contains('\n') || sops && s.starts_with("ENC[") || h.ordinary.contains(s);
            if !skip {
                h.ordinary.insert(s.to_string());
            }
        }
        fn walk(h: &mut Hidden, v: &Value, sops: bool) {
            match v {
                Value::String(s) if !has_password(s) => keep(h, s, sops),
                Value::Array(a) => a.iter().for_each(|x| walk(h, x, sops)),
                Value::Object(m) => {
                    let env_secret = matches!((m.get("name"), m.get("value")), (Some(Value::String(n)), Some(Value::String(x))) if secret_env(n, x));
                    for (k, x) in m {
                        // Where secrets stand (an env entry's value, `openaiApiKey: …` in chart
                        // values) and documents inside strings are not ordinary words.
                        if k == "kubectl.kubernetes.io/last-applied-configuration" || sops && k == "sops" || env_secret && k == "value"
                            || x.is_string() && looks_secret(k) {
                            continue;
                        }
                        keep(h, k, sops);
                        walk(h, x, sops);
                    }
                }
                _ => {}
            }
        }
        match v {
            Value::Object(m) if secret => {
                for (k, x) in m.iter().filter(|(k, _)| *k != "data" && *k != "stringData") {
                    self.ordinary.insert(k.clone());
                    walk(self, x, sops);
                }
            }
            _ => walk(self, v, sops),
        }
    }

    /// Hide `s`, and each line of it (diffs show multi-line values a line at a time).
    pub fn add(&mut self, s: &str) {
        self.add_keyed(s, None);
    }

    /// Hide `s`, seen as the value of `key` (a Secret's data key, an env name, a values key).
    pub fn add_keyed(&mut self, s: &str, key: Option<&str>) {
        let key = key.map(str::to_ascii_lowercase);
        let mut push = |t: &str| {
            let t = t.trim();
            let plain = t.parse::<f64>().is_ok() || matches!(t.to_ascii_lowercase().as_str(), "true" | "false");
            if t.chars().count() < MIN_LEN || plain {
                return;
            }
            // JSON output escapes quotes and backslashes.
            let escaped = serde_json::to_string(t).unwrap_or_default();
            let escaped = escaped[1..escaped.len().saturating_sub(1).max(1)].to_string();
            for form in [t.to_string(), escaped] {
                match self.values.iter_mut().find(|(x, _)| *x == form) {
                    Some((_, keys)) => keys.extend(key.clone()),
                    None => self.values.push((form, key.iter().cloned().collect())),
                }
            }
        };
        push(s);
        if s.trim().contains('\n') {
            s.lines().for_each(&mut push);
        }
        self.values.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    }

    pub fn extend(&mut self, other: &Hidden) {
        for (s, keys) in &other.values {
            match self.values.iter_mut().find(|(x, _)| x == s) {
                Some((_, k)) => k.extend(keys.iter().cloned()),
                None => self.values.push((s.clone(), keys.clone())),
            }
        }
        self.values.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        self.ordinary.extend(other.ordinary.iter().cloned());
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Does `text` show any hidden value (even one that is also an ordinary word)?
    pub fn any_in(&self, text: &str) -> bool {
        self.values.iter().any(|(s, _)| text.contains(s.as_str()))
    }

    /// Is `s` also an ordinary word of the input (then it is masked only as a value)?
    fn is_word(&self, s: &str) -> bool {
        self.ordinary.iter().any(|o| o.contains(s))
    }

    /// (masked anywhere, masked only as a value)
    fn split(&self) -> (Vec<&str>, Vec<(&str, &BTreeSet<String>)>) {
        let (mut strong, mut weak) = (Vec::new(), Vec::new());
        for (s, keys) in &self.values {
            if self.is_word(s) { weak.push((s.as_str(), keys)) } else { strong.push(s.as_str()) }
        }
        (strong, weak)
    }

    /// `text` with every hidden value replaced by [`MASK`].
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if !self.any_in(text) {
            return Cow::Borrowed(text);
        }
        let (strong, weak) = self.split();
        let mut out = text.to_string();
        for s in strong {
            if out.contains(s) {
                out = out.replace(s, MASK);
            }
        }
        if weak.iter().any(|(w, _)| out.contains(w)) {
            let lines: Vec<&str> = out.split_inclusive('\n').collect();
            let mut masked = String::with_capacity(out.len());
            for (i, line) in lines.iter().enumerate() {
                let mut line = line.to_string();
                for (w, keys) in &weak {
                    line = mask_as_value(&line, w, keys, &lines[i.saturating_sub(4)..i]);
                }
                masked.push_str(&line);
            }
            out = masked;
        }
        Cow::Owned(out)
    }

    /// Mask a JSON document in place: a value that is also an ordinary word is masked where it is
    /// the value of a secret-looking key or env entry; every string is then masked as text.
    pub fn redact_json(&self, v: &mut Value) {
        if self.values.is_empty() {
            return;
        }
        let (_, weak) = self.split();
        self.redact_json_in(v, &weak);
    }

    fn redact_json_in(&self, v: &mut Value, weak: &[(&str, &BTreeSet<String>)]) {
        match v {
            Value::Object(m) => {
                let name = m.get("name").and_then(Value::as_str).map(str::to_string);
                for (k, x) in m.iter_mut() {
                    if let Value::String(s) = x
                        && weak.iter().any(|(w, keys)| s == w && secret_key(k, name.as_deref(), keys)) {
                            *s = MASK.to_string();
                            continue;
                        }
                    self.redact_json_in(x, weak);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.redact_json_in(x, weak)),
            // The whole string is the word: its key (above) said it is no secret's value here.
            Value::String(s) if weak.iter().any(|(w, _)| s == w) => {}
            Value::String(s) => {
                if let Cow::Owned(o) = self.redact(s) {
                    *s = o;
                }
            }
            _ => {}
        }
    }
}

/// Does an env entry's literal value hide a secret?
fn secret_env(name: &str, value: &str) -> bool {
    looks_secret(name) || has_password(value)
}

/// Is `key` (with the entry's `name`, for an env entry's `value`) a place where `keys`' value is secret?
fn secret_key(key: &str, name: Option<&str>, keys: &BTreeSet<String>) -> bool {
    let lower = key.to_ascii_lowercase();
    if lower == "value" {
        return name.is_none_or(|n| looks_secret(n) || keys.contains(&n.to_ascii_lowercase()));
    }
    let last = lower.rsplit(['.', '/']).next().unwrap_or(&lower);
    looks_secret(key) || keys.contains(&lower) || keys.contains(last)
}

/// `line` with each occurrence of `w` that stands as a value masked: `key: w`, `"key": "w"`,
/// `key=w` with a secret key (see [`secret_key`]; for `value:` the env name on the lines just
/// before), or `w` alone on the line.
fn mask_as_value(line: &str, w: &str, keys: &BTreeSet<String>, before: &[&str]) -> String {
    if !line.contains(w) {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut last = 0;
    for (i, _) in line.match_indices(w) {
        if i < last {
            continue;
        }
        out.push_str(&line[last..i]);
        let end = i + w.len();
        out.push_str(if stands_as_value(&line[..i], &line[end..], keys, before) { MASK } else { w });
        last = end;
    }
    out.push_str(&line[last..]);
    out
}

fn stands_as_value(pre: &str, post: &str, keys: &BTreeSet<String>, before: &[&str]) -> bool {
    let (mut pre, mut post) = (pre, post.trim_end_matches(['\n', '\r']));
    if let Some(q) = pre.chars().last().filter(|c| *c == '"' || *c == '\'') {
        let Some(p) = post.strip_prefix(q) else { return false };
        pre = &pre[..pre.len() - 1];
        post = p;
    }
    let t = post.trim_start();
    if !(t.is_empty() || t.starts_with(['#', ',', '}', ']', '┆', '│', '|'])) {
        return false;
    }
    // Alone on the line (a diff marker aside): a line of a multi-line value.
    if pre.strip_prefix(['+', '-']).unwrap_or(pre).trim().is_empty() && t.is_empty() {
        return true;
    }
    let p = pre.trim_end();
    let Some(k) = p.strip_suffix(':').or_else(|| p.strip_suffix('=')) else { return false };
    let k = k.trim_end_matches(['"', '\'']);
    let start = k.rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '\\'))).map_or(0, |i| i + 1);
    let key = &k[start..];
    if key.is_empty() {
        return false;
    }
    let name = (key.eq_ignore_ascii_case("value")).then(|| env_name(before)).flatten();
    secret_key(key, name.as_deref(), keys)
}

/// The env name on the nearest line before that sets `name:` (YAML or JSON), if any.
fn env_name(before: &[&str]) -> Option<String> {
    before.iter().rev().find_map(|l| {
        let i = l.find("name\":").map(|i| i + 6).or_else(|| l.find("name:").map(|i| i + 5))?;
        let v = l[i..].trim().trim_end_matches(',').trim_matches(['"', '\'']);
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// A URL with a password in it (`postgresql://user:pass@db/app`), whatever the env's name.
fn has_password(value: &str) -> bool {
    value.split_once("://").and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
        .and_then(|authority| authority.rsplit_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// Every string leaf of `v`, with the key it is the value of.
fn leaves(v: &Value, f: &mut dyn FnMut(Option<&str>, &str)) {
    fn walk(v: &Value, key: Option<&str>, f: &mut dyn FnMut(Option<&str>, &str)) {
        match v {
            Value::String(s) => f(key, s),
            Value::Array(a) => a.iter().for_each(|x| walk(x, key, f)),
            Value::Object(m) => m.iter().for_each(|(k, x)| walk(x, Some(k), f)),
            _ => {}
        }
    }
    walk(v, None, f)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 to UTF-8 text; None when it is not both.
fn base64_decode(s: &str) -> Option<String> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        let mut pad = 0;
        for (i, &c) in chunk.iter().enumerate() {
            let v = match c {
                b'=' if i >= 2 => { pad += 1; 0 }
                _ if pad > 0 => return None,
                _ => B64.iter().position(|&x| x == c)? as u32,
            };
            n |= v << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for s in ["", "a", "ab", "abc", "planted-data-9922"] {
            assert_eq!(base64_decode(&base64_encode(s.as_bytes())).as_deref(), Some(s));
        }
        assert_eq!(base64_encode(b"planted-data-9922"), "cGxhbnRlZC1kYXRhLTk5MjI=");
        assert_eq!(base64_decode("not base64!"), None);
    }

    #[test]
    fn masks_secret_data_sops_and_secret_looking_env() {
        let h = Hidden::from_text(
            "kind: Secret\nstringData:\n  a: plain-text-1\ndata:\n  b: cGxhbnRlZC1kYXRhLTk5MjI=\n---\n\
             kind: Deployment\nspec:\n  env:\n    - name: API_TOKEN\n      value: tok-123456\n    - name: TZ\n      value: Europe/Berlin\n---\n\
             kind: Secret\nstringData:\n  c: ENC[AES256_GCM,data:xyz]\nsops:\n  mac: ENC[AES256_GCM,data:mac]\n  lastmodified: \"2026\"\n");
        let shown = h.redact("plain-text-1 cGxhbnRlZC1kYXRhLTk5MjI= planted-data-9922 tok-123456 Europe/Berlin ENC[AES256_GCM,data:xyz]");
        assert_eq!(shown, "(hidden) (hidden) (hidden) (hidden) Europe/Berlin (hidden)");
        assert!(h.any_in(&base64_encode(b"plain-text-1")));
    }

    #[test]
    fn a_secret_that_is_also_an_ordinary_word_is_masked_only_as_a_value() {
        let h = Hidden::from_text("kind: Deployment\nmetadata:\n  name: homeassistant\nspec:\n  template:\n    spec:\n      containers:\n\
            \x20       - name: homeassistant\n          env:\n            - name: PASSWORD\n              value: homeassistant\n\
            \x20           - name: API_TOKEN\n              value: tok-123456\n");
        let text = "ai/homeassistant (Deployment at apps/homeassistant/deployment.yaml:1) host homeassistant.home.example\n\
            -            - name: PASSWORD\n-              value: homeassistant\n-              value: \"homeassistant\" # pw\n\
            \x20 name: homeassistant\n│ --set app.adminPassword=homeassistant ┆ x\nadminPassword: homeassistant\n-homeassistant\n\
            -            - name: TZ\n-              value: homeassistant\ntok-123456 in any place\n";
        assert_eq!(h.redact(text), "ai/homeassistant (Deployment at apps/homeassistant/deployment.yaml:1) host homeassistant.home.example\n\
            -            - name: PASSWORD\n-              value: (hidden)\n-              value: \"(hidden)\" # pw\n\
            \x20 name: homeassistant\n│ --set app.adminPassword=(hidden) ┆ x\nadminPassword: (hidden)\n-(hidden)\n\
            -            - name: TZ\n-              value: homeassistant\n(hidden) in any place\n");

        let mut v = serde_json::json!({"name": "homeassistant", "values": {"env": [{"name": "PASSWORD", "value": "homeassistant"},
            {"name": "HOSTNAME", "value": "homeassistant"}], "adminPassword": "homeassistant", "fullnameOverride": "homeassistant"},
            "diff": "-  - name: PASSWORD\n-    value: homeassistant\n+  name: homeassistant\n"});
        h.redact_json(&mut v);
        assert_eq!(v, serde_json::json!({"name": "homeassistant", "values": {"env": [{"name": "PASSWORD", "value": "(hidden)"},
            {"name": "HOSTNAME", "value": "homeassistant"}], "adminPassword": "(hidden)", "fullnameOverride": "homeassistant"},
            "diff": "-  - name: PASSWORD\n-    value: (hidden)\n+  name: homeassistant\n"}));
    }

    #[test]
    fn urls_with_passwords() {
        assert!(has_password("postgresql://u:hunter2@db/webui"));
        assert!(!has_password("http://ollama:11434"));
        assert!(!has_password("https://auth.home.example/a@b"));
    }

    #[test]
    fn short_values_are_left_alone() {
        let mut h = Hidden::default();
        for s in ["1", "yes", "auto", "12345678", "False", "1.5e10000"] {
            h.add(s);
        }
        assert!(h.is_empty());
    }
}
