//! Values no output may show: a Secret's data, a SOPS payload, and literal values of env vars
//! whose names look secret (`WEBUI_SECRET_KEY: …`). Files helmigrate writes keep them exactly (the
//! chart needs them, and they were in Git already); everything printed or recorded outside those
//! files goes through [`Hidden::redact`].

use std::borrow::Cow;

use serde_json::Value;

use crate::model::workload::looks_secret;
use crate::source::repo::is_sops;

/// What a hidden value is shown as.
pub const MASK: &str = "(hidden)";
/// Masking is by text, everywhere a value occurs: shorter values, numbers and booleans are not
/// masked (replacing `true` or `auto` everywhere would garble every diff and ledger, and a value
/// that short protects little).
const MIN_LEN: usize = 8;

/// The set of strings to mask, longest first (so a value that contains another is masked whole).
#[derive(Debug, Clone, Default)]
pub struct Hidden(Vec<String>);

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

    /// Everything secret in one parsed object.
    pub fn add_value(&mut self, v: &Value) {
        let kind = v.get("kind").and_then(Value::as_str);
        if is_sops(v) {
            // Every encrypted field, and the envelope's keys and MAC.
            leaves(v, &mut |s| if s.starts_with("ENC[") { self.add(s) });
            if let Some(s) = v.get("sops") {
                leaves(s, &mut |s| if s.len() > 16 { self.add(s) });
            }
        }
        if kind == Some("Secret") {
            if let Some(data) = v.get("data") {
                leaves(data, &mut |s| {
                    self.add(s);
                    if let Some(plain) = base64_decode(s) {
                        self.add(&plain);
                    }
                });
            }
            if let Some(data) = v.get("stringData") {
                // The apiserver hands stringData back as base64 `data`.
                leaves(data, &mut |s| {
                    self.add(s);
                    self.add(&base64_encode(s.as_bytes()));
                });
            }
        }
        self.add_env(v);
    }

    /// `{name: <secret-looking>, value: "…"}` anywhere: env lists of every container, and the
    /// same lists once they are chart values.
    fn add_env(&mut self, v: &Value) {
        match v {
            Value::Object(m) => {
                if let (Some(Value::String(name)), Some(Value::String(value))) = (m.get("name"), m.get("value")) {
                    // OAUTH_SCOPES and the like are settings (the ledger shows them); the
                    // credentials among them still match (OAUTH_CLIENT_SECRET).
                    if looks_secret(&name.to_ascii_uppercase().replace("OAUTH", "")) || has_password(value) {
                        self.add(value);
                    }
                }
                m.values().for_each(|x| self.add_env(x));
            }
            Value::Array(a) => a.iter().for_each(|x| self.add_env(x)),
            _ => {}
        }
    }

    /// Hide `s`, and each line of it (diffs show multi-line values a line at a time).
    pub fn add(&mut self, s: &str) {
        let mut push = |t: &str| {
            let t = t.trim();
            let plain = t.parse::<f64>().is_ok() || matches!(t.to_ascii_lowercase().as_str(), "true" | "false");
            if t.chars().count() >= MIN_LEN && !plain && !self.0.iter().any(|x| x == t) {
                self.0.push(t.to_string());
                // JSON output escapes quotes and backslashes.
                let escaped = serde_json::to_string(t).unwrap_or_default();
                let escaped = &escaped[1..escaped.len().saturating_sub(1).max(1)];
                if escaped != t && !self.0.iter().any(|x| x == escaped) {
                    self.0.push(escaped.to_string());
                }
            }
        };
        push(s);
        if s.trim().contains('\n') {
            s.lines().for_each(&mut push);
        }
        self.0.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    }

    pub fn extend(&mut self, other: &Hidden) {
        for s in &other.0 {
            self.add(s);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Does `text` show any hidden value?
    pub fn any_in(&self, text: &str) -> bool {
        self.0.iter().any(|s| text.contains(s.as_str()))
    }

    /// `text` with every hidden value replaced by [`MASK`].
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if !self.any_in(text) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for s in &self.0 {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        Cow::Owned(out)
    }
}

/// A URL with a password in it (`postgresql://user:pass@db/app`), whatever the env's name.
fn has_password(value: &str) -> bool {
    value.split_once("://").and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
        .and_then(|authority| authority.rsplit_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// Every string leaf of `v`.
fn leaves(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| leaves(x, f)),
        Value::Object(m) => m.values().for_each(|x| leaves(x, f)),
        _ => {}
    }
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
