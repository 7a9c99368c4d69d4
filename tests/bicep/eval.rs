//! Reads Bicep through `tests/bicep/check.py --dump` and evaluates the literal part of its
//! expressions, for tests that compare deployed names with other files.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A Bicep file's declarations (params, vars, resources, modules, outputs) as JSON, parsed once.
fn dump(path: &Path) -> Value {
    static DUMPS: Mutex<BTreeMap<PathBuf, Value>> = Mutex::new(BTreeMap::new());
    let key = path.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if let Some(v) = DUMPS.lock().unwrap().get(&key) {
        return v.clone();
    }
    let v = parse(&key);
    DUMPS.lock().unwrap().insert(key, v.clone());
    v
}

fn parse(path: &Path) -> Value {
    let python = repo().join(".tools/bicep/bin/python");
    assert!(python.exists(), "{} is missing: run `bash tests/tools/setup.sh`", python.display());
    let out = Command::new(&python).arg(repo().join("tests/bicep/check.py")).arg("--dump").arg(path).output().unwrap();
    assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Evaluates the literal part of Bicep expressions: parameters, variables, interpolation,
/// `<resource>.name`, `<module>.outputs.<name>` (through the module's own file),
/// `environment()` of the public cloud, `==`/`!=` of evaluated values, `c ? a : b` on an
/// evaluated condition and `concat` of arrays. Anything else becomes `⟨source⟩`.
pub struct Bicep {
    path: PathBuf,
    pub decl: Value,
    params: Map<String, Value>,
}

impl Bicep {
    pub fn new(path: PathBuf, params: Map<String, Value>) -> Bicep {
        Bicep { decl: dump(&path), path, params }
    }

    pub fn eval(&self, v: &Value) -> Value {
        let o = match v {
            Value::Object(o) => o,
            Value::Array(items) => return Value::Array(items.iter().map(|i| self.eval(i)).collect()),
            literal => return literal.clone(),
        };
        if let Some(Value::String(name)) = o.get("$id") {
            if let Some(p) = self.params.get(name) {
                return p.clone();
            }
            if let Some(default) = self.decl["params"][name].get("default").filter(|d| !d.is_null()) {
                return self.eval(default);
            }
            if let Some(var) = self.decl["vars"].get(name) {
                return self.eval(var);
            }
            return json!(format!("⟨{name}⟩"));
        }
        if let Some(Value::Array(parts)) = o.get("$interp") {
            let strings = parts.iter().map(|p| match self.eval(p) {
                Value::String(s) => s,
                other => other.to_string(),
            });
            return Value::String(strings.collect());
        }
        if let Some(Value::Array(pair)) = o.get("$member") {
            let (target, prop) = (&pair[0], pair[1].as_str().unwrap());
            if let Some(Value::Array(inner)) = target.get("$member")
                && inner[1] == "outputs"
                && let Some(module) = inner[0]["$id"].as_str().and_then(|m| self.decl["modules"].get(m))
            {
                let module = self.module(module);
                return module.eval(&module.decl["outputs"][prop]);
            }
            if let Some(resource) = target["$id"].as_str().and_then(|r| self.decl["resources"].get(r))
                && prop == "name"
            {
                return self.eval(&resource["body"]["name"]);
            }
            if let Value::Object(fields) = self.eval(target)
                && let Some(field) = fields.get(prop)
            {
                return field.clone();
            }
            return json!(format!("⟨{}.{prop}⟩", string(&self.eval(target)).trim_matches(['⟨', '⟩'])));
        }
        if let Some(Value::Array(parts)) = o.get("$cond") {
            return match self.eval(&parts[0]) {
                Value::Bool(true) => self.eval(&parts[1]),
                Value::Bool(false) => self.eval(&parts[2]),
                _ => json!(format!("⟨{}⟩", o["$src"].as_str().unwrap_or_default())),
            };
        }
        for (key, equal) in [("$eq", true), ("$ne", false)] {
            if let Some(Value::Array(pair)) = o.get(key) {
                let (a, b) = (self.eval(&pair[0]), self.eval(&pair[1]));
                // A side still unevaluated (⟨...⟩) decides nothing.
                let open = |v: &Value| v.as_str().is_some_and(|s| s.starts_with('⟨'));
                if open(&a) || open(&b) {
                    return json!(format!("⟨{}⟩", o["$src"].as_str().unwrap_or_default()));
                }
                return Value::Bool((a == b) == equal);
            }
        }
        if let Some(Value::Array(parts)) = o.get("$concat") {
            let mut out = Vec::new();
            for part in parts {
                match self.eval(part) {
                    Value::Array(items) => out.extend(items),
                    _ => return json!(format!("⟨{}⟩", o["$src"].as_str().unwrap_or_default())),
                }
            }
            return Value::Array(out);
        }
        if o.get("$expr") == Some(&json!("environment()")) {
            return json!({ "suffixes": { "storage": "core.windows.net", "acrLoginServer": ".azurecr.io" } });
        }
        if let Some(source) = o.get("$expr") {
            return json!(format!("⟨{}⟩", source.as_str().unwrap()));
        }
        Value::Object(o.iter().map(|(k, v)| (k.clone(), self.eval(v))).collect())
    }

    /// The module's file, with the parameters this file passes evaluated.
    pub fn module(&self, module: &Value) -> Bicep {
        let path = self.path.parent().unwrap().join(module["target"].as_str().unwrap());
        let passed = module["body"]["params"].as_object().cloned().unwrap_or_default();
        Bicep::new(path, passed.iter().map(|(k, v)| (k.clone(), self.eval(v))).collect())
    }
}

fn string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
