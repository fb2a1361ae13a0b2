//! Offline validation of generated chart values and emitted Flux documents against schemas
//! embedded in the binary (`shared/schemas/`, data copied unchanged; see its README).
//!
//! The chart schema's `$ref`s name `https://raw.githubusercontent.com/...` URLs; a retriever maps
//! exactly those URLs to the embedded files and refuses every other one, so validation never
//! touches the network or the filesystem. Each schema is compiled once per process.
//!
//! Errors name the values path in the syntax `plan::values::split_path` reads (`a.b\.c.d`, list
//! items as `[0]`) and say what is wrong in one line. For `oneOf`/`anyOf` failures the
//! alternative the value was most likely meant to be is reported, not every alternative.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError, Validator};
use serde_json::Value;

/// One problem found in a document: where (values path) and what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct SchemaError {
    /// Dotted values path (`controllers.main.containers.app.image.tag`; dots inside keys escaped
    /// as `\.`, list items as `[0]`); empty for the document itself.
    pub path: String,
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { write!(f, "(top level): {}", self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// A chart's values schema, embedded: the root document and the files its `$ref`s name.
pub struct ChartSchema {
    pub chart: &'static str,
    pub version: &'static str,
    /// URI the root document is known by (it has no `$id`).
    root_uri: &'static str,
    root: &'static str,
    /// Every other file, by the absolute URI the `$ref`s resolve to.
    files: &'static [(&'static str, &'static str)],
    compiled: OnceLock<Compiled>,
}

const COMMON_4_1_1: &str = "https://raw.githubusercontent.com/bjw-s-labs/helm-charts/common-4.1.1/charts/library/common/";

macro_rules! common_file {
    ($name:literal) => {
        (
            concat!("https://raw.githubusercontent.com/bjw-s-labs/helm-charts/common-4.1.1/charts/library/common/", $name),
            include_str!(concat!("../schemas/app-template-4.1.1/common/4.1.1/", $name)),
        )
    };
}

/// bjw-s app-template 4.1.1 (values defined by the common library 4.1.1).
pub static APP_TEMPLATE_4_1_1: ChartSchema = ChartSchema {
    chart: "app-template",
    version: "4.1.1",
    root_uri: "https://raw.githubusercontent.com/bjw-s-labs/helm-charts/app-template-4.1.1/charts/other/app-template/values.schema.json",
    root: include_str!("../schemas/app-template-4.1.1/app-template/4.1.1/values.schema.json"),
    files: &[
        common_file!("values.schema.json"),
        common_file!("schemas/configmap.json"),
        common_file!("schemas/containers.json"),
        common_file!("schemas/controllers.json"),
        common_file!("schemas/definitions.json"),
        common_file!("schemas/envVars.json"),
        common_file!("schemas/ingress.json"),
        common_file!("schemas/k8s-api.json"),
        common_file!("schemas/networkpolicy.json"),
        common_file!("schemas/persistence.json"),
        common_file!("schemas/pod.json"),
        common_file!("schemas/rawResource.json"),
        common_file!("schemas/rbac.json"),
        common_file!("schemas/route.json"),
        common_file!("schemas/secret.json"),
        common_file!("schemas/service.json"),
        common_file!("schemas/serviceAccount.json"),
        common_file!("schemas/serviceMonitor.json"),
    ],
    compiled: OnceLock::new(),
};

impl ChartSchema {
    /// The embedded files as (path relative to the chart package's unpacked folders, text), for
    /// drift checks: `app-template/4.1.1/values.schema.json`, `common/4.1.1/schemas/pod.json`, …
    pub fn files(&self) -> Vec<(String, &'static str)> {
        let mut out = vec![(format!("{}/{}/values.schema.json", self.chart, self.version), self.root)];
        for (uri, text) in self.files {
            let rel = uri.strip_prefix(COMMON_4_1_1).expect("every embedded file is common's");
            out.push((format!("common/4.1.1/{rel}"), *text));
        }
        out
    }

    /// Every problem in `values` (the chart's values document), sorted by path, without repeats.
    /// Empty when the values are valid.
    pub fn validate(&self, values: &Value) -> Vec<SchemaError> {
        self.compiled().check(values)
    }

    fn compiled(&self) -> &Compiled {
        self.compiled.get_or_init(|| {
            let mut docs: HashMap<String, Value> = HashMap::new();
            for (uri, text) in self.files.iter().chain(std::iter::once(&(self.root_uri, self.root))) {
                let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("embedded schema {uri} is not JSON: {e}"));
                docs.insert((*uri).to_string(), doc);
            }
            let root = docs[self.root_uri].clone();
            let failed = |e: &dyn fmt::Display| -> ! { panic!("embedded schema of {} {} does not compile: {e}", self.chart, self.version) };
            // Every file is registered up front: the registry then never needs to look further
            // (references it meets while validating are resolved among these, or fail).
            let registry = jsonschema::Registry::new()
                .draft(jsonschema::Draft::Draft7)
                .retriever(Embedded(docs.clone()))
                .extend(docs.iter().map(|(uri, doc)| (uri.clone(), doc.clone())))
                .and_then(|b| b.prepare())
                .unwrap_or_else(|e| failed(&e));
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft7)
                .with_base_uri(self.root_uri)
                .with_registry(&registry)
                .with_retriever(Embedded(docs.clone()))
                .build(&root)
                .unwrap_or_else(|e| failed(&e));
            Compiled { validator, root, docs }
        })
    }
}

/// Resolves exactly the embedded files' URIs; anything else is an error, never a fetch.
struct Embedded(HashMap<String, Value>);

impl jsonschema::Retrieve for Embedded {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let key = uri.as_str().split('#').next().unwrap_or_default();
        self.0.get(key).cloned().ok_or_else(|| format!("{key} is not an embedded schema file (offline)").into())
    }
}

/// An error being explained, with what it says about keys (to recognise a misspelt key: one
/// key missing and a close one present).
struct Finding {
    error: SchemaError,
    missing: Option<String>,
    unexpected: Option<String>,
}

impl Finding {
    fn new(path: &str, message: String) -> Self {
        Finding { error: SchemaError { path: path.to_string(), message }, missing: None, unexpected: None }
    }
}

/// How bad a set of findings is: their number, a misspelt key counting once, not twice.
fn weight(findings: &[Finding]) -> usize {
    let typos = findings
        .iter()
        .filter_map(|f| Some((&f.error.path, f.missing.as_deref()?)))
        .filter(|(path, missing)| {
            findings.iter().any(|u| &&u.error.path == path && u.unexpected.as_deref().is_some_and(|k| is_typo(k, missing)))
        })
        .count();
    findings.len() - typos
}

struct Compiled {
    validator: Validator,
    /// The root schema; error schema paths of schemas without `$ref`s point into it.
    root: Value,
    /// Every schema file by URI, to read the schema an error came from (allowed keys, names).
    docs: HashMap<String, Value>,
}

impl Compiled {
    fn check(&self, doc: &Value) -> Vec<SchemaError> {
        if self.validator.is_valid(doc) {
            return Vec::new();
        }
        let mut findings = Vec::new();
        for e in self.validator.iter_errors(doc) {
            self.explain(&e, doc, &mut findings);
        }
        // A key reported missing next to a close misspelling of it: the "did you mean" says it all.
        let typo_of = |f: &Finding| {
            f.missing.as_deref().is_some_and(|m| findings.iter().any(|u| u.error.path == f.error.path && u.unexpected.as_deref().is_some_and(|k| is_typo(k, m))))
        };
        let drop: Vec<bool> = findings.iter().map(typo_of).collect();
        let mut out: Vec<SchemaError> = findings.into_iter().zip(drop).filter(|(_, d)| !d).map(|(f, _)| f.error).collect();
        out.sort();
        out.dedup();
        out
    }

    /// The schema object holding the keyword an error came from (`…/additionalProperties` → `…`).
    fn schema_of(&self, e: &ValidationError<'_>) -> Option<&Value> {
        let (doc, pointer) = match e.absolute_keyword_location() {
            Some(uri) => {
                let (base, fragment) = uri.as_str().split_once('#').unwrap_or((uri.as_str(), ""));
                (self.docs.get(base)?, percent_decode(fragment))
            }
            None => (&self.root, e.schema_path().as_str().to_string()),
        };
        let parent = pointer.rsplit_once('/').map_or("", |(p, _)| p);
        doc.pointer(parent)
    }

    /// The keyword's own value (`oneOf` array, …).
    fn keyword_of(&self, e: &ValidationError<'_>) -> Option<&Value> {
        let keyword = e.kind().keyword();
        self.schema_of(e)?.get(keyword)
    }

    fn explain(&self, e: &ValidationError<'_>, doc: &Value, out: &mut Vec<Finding>) {
        let at = e.instance_path().as_str();
        let path = values_path(at, doc);
        let instance = e.instance();
        let push = |out: &mut Vec<Finding>, message: String| out.push(Finding::new(&path, message));
        match e.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed: Vec<&str> = self
                    .schema_of(e)
                    .and_then(|s| s.get("properties"))
                    .and_then(Value::as_object)
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                for key in unexpected {
                    out.push(Finding { unexpected: Some(key.clone()), ..Finding::new(&path, not_allowed(key, &allowed)) });
                }
            }
            ValidationErrorKind::Type { kind } => {
                let expected: Vec<JsonType> = match kind {
                    TypeKind::Single(t) => vec![*t],
                    TypeKind::Multiple(set) => set.iter().collect(),
                };
                push(out, format!("must be {}, not {}", types_phrase(&expected), describe_value(instance)));
            }
            ValidationErrorKind::Required { property } => {
                let message = format!("{} is required here", property.as_str().map_or_else(|| property.to_string(), quote));
                out.push(Finding { missing: property.as_str().map(str::to_string), ..Finding::new(&path, message) });
            }
            ValidationErrorKind::Enum { options } => {
                push(out, format!("{} is not one of: {}", preview(instance), list_values(options)));
            }
            ValidationErrorKind::Constant { expected_value } => {
                push(out, format!("must be {}, not {}", preview(expected_value), preview(instance)));
            }
            ValidationErrorKind::Not { schema } => push(out, describe_not(schema, instance)),
            ValidationErrorKind::FalseSchema => push(out, "is not allowed here".into()),
            ValidationErrorKind::Format { format } => push(out, format!("{} is not a valid {format}", preview(instance))),
            ValidationErrorKind::Pattern { pattern } => push(out, format!("{} does not match the pattern {pattern}", preview(instance))),
            ValidationErrorKind::OneOfMultipleValid { context } => {
                let alternatives = self.keyword_of(e).and_then(Value::as_array);
                if let Some(keys) = alternatives.and_then(|a| only_required(a)) {
                    let set: Vec<String> = keys.iter().filter(|k| instance.get(k.as_str()).is_some()).map(|k| quote(k)).collect();
                    push(out, format!("set only one of {}", set.join(" and ")));
                } else {
                    let base = e.absolute_keyword_location().map(|u| u.as_str().split('#').next().unwrap_or_default().to_string());
                    let names: Vec<String> = context
                        .iter()
                        .enumerate()
                        .filter(|(_, errs)| errs.is_empty())
                        .map(|(i, _)| alternatives.and_then(|a| a.get(i)).map_or_else(|| format!("#{i}"), |s| self.name_of(s, base.as_deref(), i)))
                        .collect();
                    let hint = if instance.is_object() && instance.get("type").is_none() { "; set \"type\" to say which" } else { "" };
                    push(out, format!("matches more than one of the allowed forms ({}){hint}", names.join(", ")));
                }
            }
            ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
                if let Some(keys) = self.keyword_of(e).and_then(Value::as_array).and_then(|a| only_required(a)) {
                    let keys: Vec<String> = keys.iter().map(|k| quote(k)).collect();
                    push(out, format!("one of {} is required here", keys.join(" or ")));
                } else {
                    self.explain_alternatives(e, context, doc, out);
                }
            }
            _ => push(out, e.to_string()),
        }
    }

    /// None of the alternatives of a `oneOf`/`anyOf` matched: report the one most likely meant.
    fn explain_alternatives(&self, e: &ValidationError<'_>, context: &[Vec<ValidationError<'static>>], doc: &Value, out: &mut Vec<Finding>) {
        let at = e.instance_path().as_str();
        let instance = e.instance();
        // 2: the value has the wrong JSON type for this alternative; 1: a discriminating
        // constant (e.g. `type: nfs`) of a direct child differs; 0: a near miss.
        let rank = |errs: &Vec<ValidationError<'static>>| -> u8 {
            if errs.iter().any(|x| x.instance_path().as_str() == at && matches!(x.kind(), ValidationErrorKind::Type { .. })) {
                2
            } else if errs.iter().any(|x| is_child(x.instance_path().as_str(), at) && matches!(x.kind(), ValidationErrorKind::Constant { .. } | ValidationErrorKind::Enum { .. })) {
                1
            } else {
                0
            }
        };
        let ranks: Vec<u8> = context.iter().map(rank).collect();
        let best = ranks.iter().copied().min().unwrap_or(0);
        let path = values_path(at, doc);
        if best == 2 {
            let mut types: Vec<JsonType> = Vec::new();
            for x in context.iter().flatten().filter(|x| x.instance_path().as_str() == at) {
                if let ValidationErrorKind::Type { kind } = x.kind() {
                    match kind {
                        TypeKind::Single(t) => types.push(*t),
                        TypeKind::Multiple(s) => types.extend(s.iter()),
                    }
                }
            }
            let mut seen = Vec::new();
            types.retain(|t| if seen.contains(t) { false } else { seen.push(*t); true });
            out.push(Finding::new(&path, format!("must be {}, not {}", types_phrase(&types), describe_value(instance))));
            return;
        }
        if best == 1 {
            // Every alternative wants another value of the same child: name them all.
            let mut child = None;
            let mut expected: Vec<String> = Vec::new();
            for x in context.iter().flatten() {
                let p = x.instance_path().as_str();
                if !is_child(p, at) {
                    continue;
                }
                match x.kind() {
                    ValidationErrorKind::Constant { expected_value } => expected.push(preview(expected_value)),
                    ValidationErrorKind::Enum { options } => expected.extend(options.as_array().into_iter().flatten().map(preview)),
                    _ => continue,
                }
                child.get_or_insert_with(|| (p.to_string(), x.instance().clone().into_owned()));
            }
            expected.dedup();
            let mut uniq: Vec<String> = Vec::new();
            expected.into_iter().for_each(|v| if !uniq.contains(&v) { uniq.push(v) });
            if let Some((p, v)) = child {
                out.push(Finding::new(&values_path(&p, doc), format!("{} is not one of: {}", preview(&v), uniq.join(", "))));
                return;
            }
        }
        // The near miss with the fewest problems, the earliest on a tie.
        let mut chosen: Option<Vec<Finding>> = None;
        for (errs, _) in context.iter().zip(&ranks).filter(|(_, r)| **r == best) {
            let mut findings = Vec::new();
            errs.iter().for_each(|x| self.explain(x, doc, &mut findings));
            if !findings.is_empty() && chosen.as_ref().is_none_or(|c| weight(&findings) < weight(c)) {
                chosen = Some(findings);
            }
        }
        match chosen {
            Some(findings) => out.extend(findings),
            None => out.push(Finding::new(&path, e.to_string())),
        }
    }

    /// A short name for a `oneOf` alternative: the `$ref`'s last segment, or its `type` constant.
    fn name_of(&self, schema: &Value, base: Option<&str>, i: usize) -> String {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or(r);
            // Prefer the discriminating `type` constant the target declares, if any.
            let target = base.and_then(|b| self.resolve(b, r));
            let constant = target.and_then(|t| type_constant(t, self, base));
            return constant.unwrap_or_else(|| name.to_string());
        }
        type_constant(schema, self, base).unwrap_or_else(|| format!("alternative {}", i + 1))
    }

    /// `$ref` → the schema it names, among the embedded files.
    fn resolve(&self, base: &str, reference: &str) -> Option<&Value> {
        let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let uri = if file.is_empty() {
            base.to_string()
        } else if file.contains("://") {
            file.to_string()
        } else {
            format!("{}{file}", &base[..base.rfind('/').map_or(0, |i| i + 1)])
        };
        self.docs.get(&uri)?.pointer(&percent_decode(fragment))
    }
}

/// `properties.type.const` of a schema (through one `allOf`), quoted.
fn type_constant(schema: &Value, c: &Compiled, base: Option<&str>) -> Option<String> {
    if let Some(v) = schema.pointer("/properties/type/const") {
        return Some(format!("type {}", preview(v)));
    }
    for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        let part = match (part.get("$ref").and_then(Value::as_str), base) {
            (Some(r), Some(b)) => c.resolve(b, r),
            _ => Some(part),
        };
        if let Some(v) = part.and_then(|p| p.pointer("/properties/type/const")) {
            return Some(format!("type {}", preview(v)));
        }
    }
    None
}

/// `[{required: [a]}, {required: [b]}]` → `[a, b]`: alternatives that only name a key.
fn only_required(alternatives: &[Value]) -> Option<Vec<String>> {
    let mut keys = Vec::new();
    for a in alternatives {
        let o = a.as_object()?;
        if o.len() != 1 {
            return None;
        }
        for k in o.get("required")?.as_array()? {
            keys.push(k.as_str()?.to_string());
        }
    }
    Some(keys)
}

fn is_child(path: &str, parent: &str) -> bool {
    path.strip_prefix(parent).and_then(|r| r.strip_prefix('/')).is_some_and(|r| !r.contains('/'))
}

/// A JSON pointer into `doc` → a values path: `/a/b.c/0/d` → `a.b\.c[0].d`.
pub(crate) fn values_path(pointer: &str, doc: &Value) -> String {
    let mut out = String::new();
    let mut node = Some(doc);
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        match node {
            Some(Value::Array(items)) => {
                node = seg.parse::<usize>().ok().and_then(|i| items.get(i));
                out.push_str(&format!("[{seg}]"));
            }
            n => {
                node = n.and_then(|n| n.get(&seg));
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&seg.replace('.', "\\."));
            }
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = if bytes[i] == b'%' && i + 2 < bytes.len() {
            std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        } else {
            None
        };
        if let Some(b) = escaped {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| s.to_string())
}

/// A value in at most ~40 characters of JSON.
fn preview(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 { format!("{}…", s.chars().take(39).collect::<String>()) } else { s }
}

fn list_values(options: &Value) -> String {
    options.as_array().map(|a| a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect::<Vec<_>>().join(", ")).unwrap_or_else(|| options.to_string())
}

fn type_name(t: JsonType) -> &'static str {
    match t {
        JsonType::Array => "a list",
        JsonType::Boolean => "true or false",
        JsonType::Integer => "an integer",
        JsonType::Null => "null",
        JsonType::Number => "a number",
        JsonType::Object => "a map",
        JsonType::String => "a string",
    }
}

fn types_phrase(types: &[JsonType]) -> String {
    let order = [JsonType::String, JsonType::Integer, JsonType::Number, JsonType::Boolean, JsonType::Array, JsonType::Object, JsonType::Null];
    let names: Vec<&str> = order.iter().filter(|t| types.contains(t)).map(|t| type_name(*t)).collect();
    match names.as_slice() {
        [] => "something else".into(),
        [one] => (*one).into(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn describe_value(v: &Value) -> String {
    let kind = match v {
        Value::Null => return "null".into(),
        Value::Bool(_) => "the boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "the integer",
        Value::Number(_) => "the number",
        Value::String(_) => "the string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    };
    match v {
        Value::Array(_) | Value::Object(_) => kind.into(),
        _ => format!("{kind} {}", preview(v)),
    }
}

/// `"enable" is not allowed here (did you mean "enabled"?; allowed: …)`.
fn not_allowed(key: &str, allowed: &[&str]) -> String {
    let mut msg = format!("{} is not allowed here", quote(key));
    let close = allowed
        .iter()
        .filter(|a| is_typo(key, a))
        .min_by_key(|a| distance(&key.to_lowercase(), &a.to_lowercase()));
    let mut notes = Vec::new();
    if let Some(c) = close {
        notes.push(format!("did you mean {}?", quote(c)));
    }
    if allowed.is_empty() {
        notes.push("no keys are allowed".into());
    } else if allowed.len() <= 16 {
        notes.push(format!("allowed: {}", allowed.join(", ")));
    } else {
        notes.push(format!("{} keys are allowed, see the chart's values schema", allowed.len()));
    }
    msg.push_str(&format!(" ({})", notes.join("; ")));
    msg
}

/// `key` looks like a misspelling of `meant`.
fn is_typo(key: &str, meant: &str) -> bool {
    distance(&key.to_lowercase(), &meant.to_lowercase()) <= 2.max(meant.len() / 4)
}

/// Edit distance (Levenshtein) of two short keys.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A failed `not`, in words: the schemas here only forbid combinations of keys.
fn describe_not(schema: &Value, instance: &Value) -> String {
    let present = |keys: &[Value]| keys.iter().all(|k| k.as_str().is_some_and(|k| instance.get(k).is_some()));
    let words = |keys: &[Value]| keys.iter().map(|k| k.as_str().map_or_else(|| k.to_string(), quote)).collect::<Vec<_>>();
    let mut sets: Vec<&[Value]> = Vec::new();
    if let Some(r) = schema.get("required").and_then(Value::as_array) {
        sets.push(r);
    }
    for alt in schema.get("anyOf").and_then(Value::as_array).into_iter().flatten() {
        if let Some(r) = alt.get("required").and_then(Value::as_array) {
            sets.push(r);
        }
    }
    let matched: Vec<&[Value]> = sets.into_iter().filter(|s| present(s)).collect();
    if matched.is_empty() {
        return format!("must not match {}", preview(schema));
    }
    let parts: Vec<String> = matched
        .iter()
        .map(|s| match words(s).as_slice() {
            [one] => format!("{one} must not be set here"),
            many => format!("{} must not be set together", many.join(" and ")),
        })
        .collect();
    parts.join("; ")
}

// ---------------------------------------------------------------------------------------------
// Flux documents

struct FluxKind {
    api_version: &'static str,
    kind: &'static str,
    version: &'static str,
    crd: &'static str,
    compiled: OnceLock<Compiled>,
}

static FLUX: [FluxKind; 3] = [
    FluxKind {
        api_version: "helm.toolkit.fluxcd.io/v2",
        kind: "HelmRelease",
        version: "v2",
        crd: include_str!("../schemas/flux/helm.toolkit.fluxcd.io_helmreleases.yaml"),
        compiled: OnceLock::new(),
    },
    FluxKind {
        api_version: "source.toolkit.fluxcd.io/v1",
        kind: "HelmRepository",
        version: "v1",
        crd: include_str!("../schemas/flux/source.toolkit.fluxcd.io_helmrepositories.yaml"),
        compiled: OnceLock::new(),
    },
    FluxKind {
        api_version: "source.toolkit.fluxcd.io/v1",
        kind: "OCIRepository",
        version: "v1",
        crd: include_str!("../schemas/flux/source.toolkit.fluxcd.io_ocirepositories.yaml"),
        compiled: OnceLock::new(),
    },
];

/// The embedded Flux CRD files: (file name as in `tests/crds/flux/`, text), for drift checks.
pub fn flux_crd_files() -> Vec<(&'static str, &'static str)> {
    let names = ["helm.toolkit.fluxcd.io_helmreleases.yaml", "source.toolkit.fluxcd.io_helmrepositories.yaml", "source.toolkit.fluxcd.io_ocirepositories.yaml"];
    names.into_iter().zip(FLUX.iter().map(|k| k.crd)).collect()
}

/// Validate an emitted HelmRelease (`helm.toolkit.fluxcd.io/v2`), HelmRepository or OCIRepository
/// (`source.toolkit.fluxcd.io/v1`) against its CRD's OpenAPI schema, made strict: an object that
/// lists `properties` and does not preserve unknown fields rejects other keys, so a misspelt key
/// is an error here instead of being pruned silently by the apiserver.
pub fn validate_flux(doc: &Value) -> Vec<SchemaError> {
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let Some(k) = FLUX.iter().find(|k| k.api_version == api_version && k.kind == kind) else {
        let known: Vec<String> = FLUX.iter().map(|k| format!("{} {}", k.api_version, k.kind)).collect();
        return vec![SchemaError {
            path: String::new(),
            message: format!("no embedded schema for apiVersion {} kind {} (known: {})", quote(api_version), quote(kind), known.join(", ")),
        }];
    };
    k.compiled().check(doc)
}

impl FluxKind {
    fn compiled(&self) -> &Compiled {
        self.compiled.get_or_init(|| {
            let crd: Value = serde_saphyr::from_str(self.crd).unwrap_or_else(|e| panic!("embedded {} CRD does not parse: {e}", self.kind));
            let versions = crd.pointer("/spec/versions").and_then(Value::as_array).expect("CRD lists versions");
            let v = versions.iter().find(|v| v["name"] == self.version).unwrap_or_else(|| panic!("{} CRD serves {}", self.kind, self.version));
            let mut root = v.pointer("/schema/openAPIV3Schema").cloned().expect("CRD has an openAPIV3Schema");
            strict(&mut root);
            let validator = jsonschema::options()
                .offline()
                .build(&root)
                .unwrap_or_else(|e| panic!("embedded {} CRD schema does not compile: {e}", self.kind));
            Compiled { validator, root, docs: HashMap::new() }
        })
    }
}

/// Objects with `properties` and without `x-kubernetes-preserve-unknown-fields` reject unknown keys.
fn strict(s: &mut Value) {
    match s {
        Value::Object(m) => {
            let preserve = m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if m.contains_key("properties") && !m.contains_key("additionalProperties") && !preserve {
                m.insert("additionalProperties".into(), Value::Bool(false));
            }
            m.values_mut().for_each(strict);
        }
        Value::Array(a) => a.iter_mut().for_each(strict),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_saphyr::from_str(text).expect("test YAML parses")
    }

    fn errors(values: &str) -> Vec<String> {
        APP_TEMPLATE_4_1_1.validate(&yaml(values)).iter().map(ToString::to_string).collect()
    }

    const MINIMAL: &str = "controllers: {main: {containers: {main: {image: {repository: nginx, tag: \"1.27\"}}}}}";

    /// A realistic document built from the common library's documented values (values.yaml and
    /// README of common 4.1.1): two controllers, init containers, env as map and list, envFrom,
    /// custom probes, every persistence type the converter emits, a two-port Service with
    /// forceRename and a StatefulSet with volumeClaimTemplates.
    pub(crate) const REALISTIC: &str = r#"
global:
  fullnameOverride: comfyui
  labels: {app.kubernetes.io/part-of: ai}
defaultPodOptions:
  securityContext: {runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, fsGroupChangePolicy: OnRootMismatch}
  tolerations:
    - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
controllers:
  comfyui:
    type: deployment
    replicas: 1
    strategy: Recreate
    revisionHistoryLimit: 3
    annotations: {reloader.stakater.com/auto: "true"}
    pod:
      runtimeClassName: nvidia
      nodeSelector: {kubernetes.io/hostname: gpu-1}
      imagePullSecrets: [{name: regcred}]
      terminationGracePeriodSeconds: 60
      enableServiceLinks: false
    initContainers:
      init-models:
        image: {repository: busybox, tag: "1.36", pullPolicy: IfNotPresent}
        command: [sh, -c]
        args: ["cp -rn /seed/. /models/"]
      wait-db:
        dependsOn: init-models
        image: {repository: busybox, tag: "1.36"}
        command: ["sh", "-c", "until nc -z comfyui-db 5432; do sleep 1; done"]
    containers:
      app:
        image: {repository: ghcr.io/ai-dock/comfyui, tag: v2-cuda-12.1.1-base-22.04}
        env:
          TZ: UTC
          WEB_PORT: 8188
          DEBUG: false
          RELEASE: "{{ .Release.Name }}"
          POD_NAME:
            valueFrom:
              fieldRef: {fieldPath: metadata.name}
          API_KEY:
            secretKeyRef: {name: comfyui-secrets, key: api-key}
          CONFIG_DIR:
            value: /config
            dependsOn: TZ
          MODEL_PATH:
            dependsOn: [TZ, CONFIG_DIR]
            valueFrom:
              configMapKeyRef: {name: comfyui-config, key: model-path}
        envFrom:
          - secretRef: {name: comfyui-env}
          - configMapRef: {identifier: config, optional: true}
          - configMap: comfyui-extra
          - secret: comfyui-extra-secret
        ports:
          - {name: http, containerPort: 8188, protocol: TCP}
        probes:
          liveness:
            enabled: true
            custom: true
            spec:
              httpGet: {path: /, port: 8188}
              initialDelaySeconds: 30
              periodSeconds: 10
              timeoutSeconds: 5
              failureThreshold: 6
          readiness:
            enabled: true
            type: HTTP
            path: /system_stats
            port: http
          startup:
            enabled: true
            custom: true
            spec:
              tcpSocket: {port: http}
              periodSeconds: 5
              failureThreshold: 30
        resources:
          requests: {cpu: 500m, memory: 4Gi}
          limits: {memory: 16Gi, nvidia.com/gpu: 1}
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
        workingDir: /opt/ComfyUI
      proxy:
        dependsOn: app
        image: {repository: nginx, tag: "1.27"}
        env:
          - {name: NGINX_PORT, value: "8080"}
          - name: POD_IP
            valueFrom:
              fieldRef: {fieldPath: status.podIP}
          - name: PASSWORD
            secretKeyRef: {name: comfyui-secrets, key: password}
        ports:
          - {name: proxy, containerPort: 8080}
        probes:
          liveness: {enabled: true, type: TCP, port: 8080}
  db:
    type: statefulset
    statefulset:
      podManagementPolicy: OrderedReady
      serviceName: {identifier: db}
      volumeClaimTemplates:
        - name: data
          accessMode: ReadWriteOnce
          size: 10Gi
          storageClass: local-path
          globalMounts:
            - path: /var/lib/postgresql/data
              subPath: pgdata
    containers:
      main:
        image: {repository: postgres, tag: 16}
        env: {POSTGRES_DB: comfy, PGDATA: /var/lib/postgresql/data/pgdata}
service:
  app:
    controller: comfyui
    forceRename: comfyui-web
    ports:
      http: {port: 80, targetPort: 8188, protocol: HTTP}
      proxy: {port: 8080, targetPort: proxy, protocol: TCP}
  db:
    controller: db
    type: ClusterIP
    ports:
      postgres: {port: 5432}
persistence:
  models:
    existingClaim: comfyui-models
    advancedMounts:
      comfyui:
        app: [{path: /opt/ComfyUI/models}]
        init-models: [{path: /models}]
  output:
    type: nfs
    server: nas.local
    path: /export/comfyui
    globalMounts: [{path: /output}]
  dev-dri:
    type: hostPath
    hostPath: /dev/dri
    hostPathType: Directory
    globalMounts: [{path: /dev/dri}]
  config:
    type: configMap
    identifier: config
    defaultMode: 420
    items: [{key: extra.yaml, path: extra.yaml}]
    advancedMounts:
      comfyui:
        app:
          - {path: /config/extra.yaml, subPath: extra.yaml, readOnly: true}
  tmp:
    type: emptyDir
    medium: Memory
    sizeLimit: 1Gi
    globalMounts: [{path: /tmp}]
  cache:
    type: persistentVolumeClaim
    accessMode: ReadWriteOnce
    size: 5Gi
    storageClass: local-path
    retain: true
    advancedMounts:
      comfyui:
        app: [{path: /cache}]
configMaps:
  config:
    data:
      extra.yaml: |
        base_path: /opt/ComfyUI
"#;

    #[test]
    fn minimal_values_pass() {
        assert_eq!(errors(MINIMAL), Vec::<String>::new());
        assert_eq!(errors("{}"), Vec::<String>::new());
    }

    #[test]
    fn realistic_values_pass() {
        assert_eq!(errors(REALISTIC), Vec::<String>::new());
    }

    #[test]
    fn a_misspelt_key_names_its_parent_and_the_allowed_keys() {
        let e = errors("controllers: {comfyui: {containers: {app: {image: {repository: nginx, tag: \"1.27\"}, probes: {liveness: {enable: true}}}}}}");
        assert_eq!(e, vec![
            "controllers.comfyui.containers.app.probes.liveness: \"enable\" is not allowed here (did you mean \"enabled\"?; allowed: enabled, custom, path, port, service, spec, type)",
        ]);
        let e = errors("controllers: {main: {containers: {main: {image: {repositry: nginx}}}}}");
        assert_eq!(e, vec![
            "controllers.main.containers.main.image: \"repositry\" is not allowed here (did you mean \"repository\"?; allowed: pullPolicy, repository, tag)",
        ]);
        let e = errors("servise: {}\ncontrollers: {main: {replica: 2}}");
        assert_eq!(e.len(), 1, "{e:#?}"); // the top level allows unknown keys (subchart values, `common:`)
        assert!(e[0].starts_with("controllers.main: \"replica\" is not allowed here (did you mean \"replicas\"?; "), "{e:#?}");
    }

    #[test]
    fn a_wrong_type_names_the_expected_and_the_given_type() {
        let e = errors("controllers: {main: {replicas: \"2\", containers: {main: {image: {repository: nginx}}}}}");
        assert_eq!(e, vec!["controllers.main.replicas: must be an integer or null, not the string \"2\""]);
    }

    #[test]
    fn a_persistence_item_missing_what_its_type_needs() {
        assert_eq!(errors("persistence: {share: {type: nfs, server: nas}}"), vec!["persistence.share: \"path\" is required here"]);
        assert_eq!(
            errors("persistence: {data: {type: persistentVolumeClaim, accessMode: ReadWriteOnce}}"),
            vec!["persistence.data: \"size\" is required here"]
        );
        assert_eq!(errors("persistence: {custom: {type: custom}}"), vec!["persistence.custom: \"volumeSpec\" is required here"]);
        assert_eq!(errors("persistence: {cfg: {type: configMap}}"), vec!["persistence.cfg: one of \"name\" or \"identifier\" is required here"]);
        let e = errors("persistence: {share: {type: nsf, server: nas, path: /x}}");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].starts_with("persistence.share.type: \"nsf\" is not one of: \"persistentVolumeClaim\", \"configMap\", \"secret\", \"nfs\""), "{e:#?}");
        // An existing claim takes no size: the near miss is the existingClaim form.
        let e = errors("persistence: {models: {existingClaim: models, size: 1Gi}}");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].starts_with("persistence.models: \"size\" is not allowed here (allowed: type, enabled, existingClaim, advancedMounts, globalMounts)"), "{e:#?}");
    }

    #[test]
    fn a_persistence_item_without_type_can_be_ambiguous() {
        let e = errors("persistence: {scratch: {globalMounts: [{path: /scratch}]}}");
        assert_eq!(e, vec!["persistence.scratch: matches more than one of the allowed forms (type \"emptyDir\", type \"hostPath\"); set \"type\" to say which"]);
    }

    #[test]
    fn service_ports() {
        // The schema allows a port as a string (templated ports) …
        assert_eq!(errors("service: {app: {controller: main, ports: {http: {port: \"8080\"}}}}"), Vec::<String>::new());
        // … but not as anything else, and a port needs its number.
        assert_eq!(
            errors("service: {app: {controller: main, ports: {http: {port: true}, grpc: {targetPort: 9000}}}}"),
            vec![
                "service.app.ports.grpc: \"port\" is required here",
                "service.app.ports.http.port: must be a string or an integer, not the boolean true",
            ]
        );
        assert_eq!(
            errors("service: {app: {ports: {http: {port: 80, protocol: GRPC}}}}"),
            vec!["service.app.ports.http.protocol: \"GRPC\" is not one of: HTTP, HTTPS, TCP, UDP"]
        );
    }

    #[test]
    fn a_bad_probe_block() {
        let e = errors(
            "controllers: {main: {containers: {main: {probes: {
               liveness: {enabled: true, type: EXEC},
               readiness: {enabled: true, custom: true, spec: {httpGet: {path: /}, periodSeconds: \"10\"}},
               startup: {enabled: \"yes\"}}}}}}",
        );
        assert_eq!(e, vec![
            "controllers.main.containers.main.probes.liveness.type: \"EXEC\" is not one of: TCP, HTTP, HTTPS, GRPC, AUTO",
            "controllers.main.containers.main.probes.readiness.spec.httpGet: \"port\" is required here",
            "controllers.main.containers.main.probes.readiness.spec.periodSeconds: must be an integer or null, not the string \"10\"",
            "controllers.main.containers.main.probes.startup.enabled: must be true or false, not the string \"yes\"",
        ]);
    }

    #[test]
    fn env_of_the_wrong_shape_says_which_shapes_are_allowed() {
        assert_eq!(errors("controllers: {main: {containers: {main: {env: 5}}}}"), vec![
            "controllers.main.containers.main.env: must be a list or a map, not the integer 5",
        ]);
        assert_eq!(errors("controllers: {main: {containers: {main: {env: {A: {vaule: x}}}}}}"), vec![
            "controllers.main.containers.main.env.A: \"vaule\" is not allowed here (did you mean \"value\"?; allowed: value, dependsOn)",
        ]);
    }

    #[test]
    fn keys_with_dots_and_list_items_in_paths() {
        let e = errors("controllers: {main: {annotations: {a.b/c: 1}, containers: {main: {ports: [{containerPort: 80}, {containerPort: \"x\"}]}}}}");
        assert_eq!(e, vec![
            "controllers.main.annotations.a\\.b/c: must be a string or null, not the integer 1",
            "controllers.main.containers.main.ports[1].containerPort: must be an integer or null, not the string \"x\"",
        ]);
        let path = &APP_TEMPLATE_4_1_1.validate(&yaml("controllers: {main: {annotations: {a.b/c: 1}}}"))[0].path;
        assert_eq!(crate::plan::split_path(path), ["controllers", "main", "annotations", "a.b/c"]);
    }

    #[test]
    fn force_rename_with_suffix_is_refused() {
        assert_eq!(errors("service: {app: {forceRename: web, suffix: x, ports: {http: {port: 80}}}}"), vec![
            "service.app: \"forceRename\" and \"suffix\" must not be set together",
        ]);
    }

    #[test]
    fn errors_are_sorted_and_unique() {
        let e = APP_TEMPLATE_4_1_1.validate(&yaml("controllers: {b: {replicas: x}, a: {replicas: y}}\nservice: {a: {ports: {p: {}}}}"));
        let mut sorted = e.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(e, sorted);
        assert_eq!(e.len(), 3, "{e:#?}");
    }

    #[test]
    fn the_embedded_schema_is_offline_and_complete() {
        // Every $ref resolves to an embedded file (compiling resolves them all).
        let c = APP_TEMPLATE_4_1_1.compiled();
        assert_eq!(c.docs.len(), 19);
        assert!(c.validator.is_valid(&yaml(MINIMAL)));
        // Any other URI is refused, not fetched.
        let refused = jsonschema::options()
            .with_retriever(Embedded(HashMap::new()))
            .build(&serde_json::json!({"$ref": "https://example.com/x.json"}));
        assert!(refused.is_err());
    }

    /// What the published schema lets through or refuses, pinned so a schema update that changes
    /// it is noticed (the converter must not rely on the schema for these).
    #[test]
    fn schema_quirks() {
        let ok = |v: &str| assert_eq!(errors(v), Vec::<String>::new(), "{v}");
        // A probe block is not required to be a map, and a custom probe spec is not strict.
        ok("controllers: {main: {containers: {main: {probes: {liveness: true}}}}}");
        ok("controllers: {main: {containers: {main: {probes: {liveness: {enabled: true, custom: true, spec: {periodSecond: 10}}}}}}}");
        // Service ports may be strings (the chart templates them).
        ok("service: {app: {ports: {http: {port: \"8080\", targetPort: http}}}}");
        // A hostPath item does not need its hostPath; formats int32/int64 are not checked.
        ok("persistence: {dev: {type: hostPath}}");
        ok("controllers: {main: {containers: {main: {ports: [{containerPort: 99999999999}]}}}}");
        // draft-07 ignores keywords next to $ref: `type: object` beside the labels $ref is moot.
        ok("global: {labels: null}");
        // Forms documented in common's values.yaml comments that the schema refuses.
        assert_eq!(errors("controllers: {main: {containers: {main: {envFrom: [{config: my-config}]}}}}"), vec![
            "controllers.main.containers.main.envFrom[0]: \"config\" is not allowed here (allowed: configMap, configMapRef, prefix, secret, secretRef)",
        ]);
        assert_eq!(errors("persistence: {data: {accessMode: ReadWriteOnce, size: 1Gi, dataSource: {}}}"), vec![
            "persistence.data.dataSource: \"kind\" is required here",
            "persistence.data.dataSource: \"name\" is required here",
        ]);
        // A cronjob controller needs its cronjob block.
        assert_eq!(errors("controllers: {main: {type: cronjob}}"), vec!["controllers.main: \"cronjob\" is required here"]);
    }

    const OCI: &str = "
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: app-template, namespace: flux-system}
spec:
  interval: 12h
  url: oci://ghcr.io/bjw-s-labs/helm/app-template
  ref: {tag: 4.1.1}
  layerSelector: {mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip, operation: copy}
";

    #[test]
    fn flux_oci_repository() {
        assert_eq!(validate_flux(&yaml(OCI)), vec![]);
        let typo = yaml(&OCI.replace("layerSelector", "layerSelecter"));
        let e: Vec<String> = validate_flux(&typo).iter().map(ToString::to_string).collect();
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].starts_with("spec: \"layerSelecter\" is not allowed here (did you mean \"layerSelector\"?"), "{e:#?}");
        let bad = yaml(&OCI.replace("operation: copy", "operation: move"));
        assert_eq!(validate_flux(&bad).iter().map(ToString::to_string).collect::<Vec<_>>(), vec![
            "spec.layerSelector.operation: \"move\" is not one of: extract, copy",
        ]);
    }

    #[test]
    fn flux_helm_release_with_chart_ref() {
        let hr = yaml("
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: comfyui, namespace: ai}
spec:
  interval: 1h
  chartRef: {kind: OCIRepository, name: app-template, namespace: flux-system}
  install: {remediation: {retries: 3}}
  upgrade: {cleanupOnFail: true, remediation: {retries: 3, strategy: rollback}}
  values:
    controllers: {main: {containers: {main: {image: {repository: nginx, tag: \"1.27\"}}}}}
");
        assert_eq!(validate_flux(&hr), vec![]);
        let mut wrong = hr.clone();
        wrong["spec"]["chartRef"]["kind"] = "GitRepository".into();
        wrong["spec"]["install"]["remediation"]["retries"] = "three".into();
        assert_eq!(validate_flux(&wrong).iter().map(ToString::to_string).collect::<Vec<_>>(), vec![
            "spec.chartRef.kind: \"GitRepository\" is not one of: OCIRepository, HelmChart, ExternalArtifact",
            "spec.install.remediation.retries: must be an integer, not the string \"three\"",
        ]);
    }

    #[test]
    fn flux_helm_repository_and_unknown_kinds() {
        let repo = yaml("apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: bjw-s, namespace: flux-system}\nspec: {interval: 1h, url: https://bjw-s-labs.github.io/helm-charts}");
        assert_eq!(validate_flux(&repo), vec![]);
        let old = yaml("apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata: {name: x}");
        let e = validate_flux(&old);
        assert_eq!(e.len(), 1);
        assert!(e[0].message.starts_with("no embedded schema for apiVersion \"source.toolkit.fluxcd.io/v1beta2\" kind \"OCIRepository\""), "{e:?}");
    }

    /// `cargo test -p helmigrate --release --lib schema::tests::bench_validate -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_validate() {
        let doc = yaml(REALISTIC);
        let start = std::time::Instant::now();
        assert!(APP_TEMPLATE_4_1_1.validate(&doc).is_empty());
        println!("first call (compiles the schema): {:?}", start.elapsed());
        for (name, doc) in [("valid realistic", doc.clone()), ("invalid (3 errors)", {
            let mut d = doc.clone();
            d["controllers"]["comfyui"]["replicas"] = "2".into();
            d["persistence"]["output"]["type"] = "nsf".into();
            d["service"]["app"]["ports"]["http"]["protocl"] = "TCP".into();
            d
        })] {
            let n = 1000;
            let start = std::time::Instant::now();
            let mut count = 0;
            for _ in 0..n {
                count += APP_TEMPLATE_4_1_1.validate(std::hint::black_box(&doc)).len();
            }
            let per = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
            println!("{name}: {per:.1} µs per call ({} errors each)", count / n as usize);
        }
    }
}
