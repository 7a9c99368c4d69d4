//! Reads which expression a KQL pipeline writes into each output column, for tests that hold two
//! mappings of the row (a Data Explorer function, a data collection rule transformation) together.
//!
//! Only the shapes flowlog's scripts use are understood: a source table, then `where`, `extend`,
//! `project` and `project-away` stages. An expression that is only the name of an earlier
//! computed column is replaced by that column's expression, so aliases resolve to row fields.
#![allow(dead_code)]

/// Output columns in order, each with the expression (text as written) that produces it.
#[derive(Debug, Default)]
pub struct Mapping {
    pub columns: Vec<(String, String)>,
}

impl Mapping {
    pub fn get(&self, name: &str) -> Option<&String> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    fn set(&mut self, name: &str, expr: String) {
        match self.columns.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = expr,
            None => self.columns.push((name.to_string(), expr)),
        }
    }
}

/// KQL without `//` comments outside string literals.
pub fn strip_comments(kql: &str) -> String {
    kql.lines()
        .map(|line| {
            let mut in_string = false;
            let chars: Vec<char> = line.chars().collect();
            for i in 0..chars.len() {
                match chars[i] {
                    '"' => in_string = !in_string,
                    '/' if !in_string && chars.get(i + 1) == Some(&'/') => return chars[..i].iter().collect(),
                    _ => {}
                }
            }
            line.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` split at `sep` where it is outside parentheses, brackets and string literals.
pub fn split_top(text: &str, sep: char) -> Vec<String> {
    let (mut out, mut current, mut depth, mut in_string) = (Vec::new(), String::new(), 0i32, false);
    for c in text.chars() {
        match c {
            '"' => in_string = !in_string,
            '(' | '[' | '{' if !in_string => depth += 1,
            ')' | ']' | '}' if !in_string => depth -= 1,
            c if c == sep && depth == 0 && !in_string => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The pipeline that starts at the line holding only `table`, up to the end of the enclosing
/// `{ }` block if there is one.
fn pipeline<'a>(kql: &'a str, table: &str) -> Result<&'a str, String> {
    let mut start = None;
    let mut at = 0;
    for line in kql.split_inclusive('\n') {
        if line.trim() == table {
            start = Some(at);
            break;
        }
        at += line.len();
    }
    let start = start.ok_or(format!("no line holding only {table}, where the pipeline starts"))?;
    let rest = &kql[start..];
    // The first unbalanced `}` closes the function body.
    let mut depth = 0i32;
    let mut in_string = false;
    for (i, c) in rest.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '(' | '[' | '{' if !in_string => depth += 1,
            ')' | ']' | '}' if !in_string => {
                depth -= 1;
                if depth < 0 {
                    return Ok(&rest[..i]);
                }
            }
            _ => {}
        }
    }
    Ok(rest)
}

/// The output columns of the pipeline starting at `table`, whose columns are `fields`.
pub fn mapping(kql: &str, table: &str, fields: &[&str]) -> Result<Mapping, String> {
    let code = strip_comments(kql);
    let stages = split_top(pipeline(&code, table)?, '|');
    let mut current = Mapping { columns: fields.iter().map(|f| (f.to_string(), f.to_string())).collect() };
    for stage in &stages[1..] {
        let stage = stage.trim();
        let (op, body) = stage.split_once(char::is_whitespace).unwrap_or((stage, ""));
        let items: Vec<String> =
            split_top(body, ',').iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        match op {
            "where" => {}
            "project-away" => current.columns.retain(|(n, _)| !items.contains(n)),
            "extend" | "project" => {
                let mut out =
                    if op == "extend" { Mapping { columns: current.columns.clone() } } else { Mapping::default() };
                for item in &items {
                    let (name, expr) = match split_top(item, '=').as_slice() {
                        [name] => (name.trim().to_string(), name.trim().to_string()),
                        [name, expr] if is_ident(name.trim()) => (name.trim().to_string(), expr.trim().to_string()),
                        // `==` inside the expression: the name is what comes before the first `=`.
                        _ => match item.split_once('=') {
                            Some((name, expr)) if is_ident(name.trim()) && !expr.starts_with('=') => {
                                (name.trim().to_string(), expr.trim().to_string())
                            }
                            _ => (item.clone(), item.clone()),
                        },
                    };
                    // Resolve a bare reference to an earlier column (of the input of this stage,
                    // or, for `extend`, computed earlier in it).
                    let resolved = if is_ident(&expr) {
                        out.get(&expr).or_else(|| current.get(&expr)).cloned().unwrap_or(expr)
                    } else {
                        expr
                    };
                    out.set(&name, resolved);
                }
                current = out;
            }
            other => return Err(format!("unsupported stage `{other}`")),
        }
    }
    Ok(current)
}

/// `expr` in a canonical spelling: no whitespace outside string literals, `iff` as `iif`,
/// `bag_pack` as `pack` (documented aliases of each other), and `coalesce(a, b)` of two strings
/// as `iif(isnotempty(a), a, b)` (coalesce of strings returns the first non-empty one).
pub fn normalise(expr: &str) -> String {
    let mut compact = String::new();
    let mut in_string = false;
    for c in expr.chars() {
        if c == '"' {
            in_string = !in_string;
        }
        if in_string || !c.is_whitespace() {
            compact.push(c);
        }
    }
    rewrite(&compact)
}

fn rewrite(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    loop {
        let Some(open) = find_call(rest) else {
            out.push_str(rest);
            return out;
        };
        let (name_start, paren) = open;
        let name = &rest[name_start..paren];
        let close = matching(rest, paren);
        let args: Vec<String> = split_top(&rest[paren + 1..close], ',').iter().map(|a| rewrite(a)).collect();
        out.push_str(&rest[..name_start]);
        match (name, args.as_slice()) {
            ("coalesce", [a, b]) => out.push_str(&format!("iif(isnotempty({a}),{a},{b})")),
            _ => {
                let name = match name {
                    "iff" => "iif",
                    "bag_pack" => "pack",
                    other => other,
                };
                out.push_str(&format!("{name}({})", args.join(",")));
            }
        }
        rest = &rest[close + 1..];
    }
}

/// The first call outside string literals: (start of its name, position of its `(`).
fn find_call(s: &str) -> Option<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut in_string = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => in_string = !in_string,
            b'(' if !in_string => {
                let mut start = i;
                while start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
                    start -= 1;
                }
                return Some((start, i));
            }
            _ => {}
        }
    }
    None
}

/// The position of the `)` matching the `(` at `open`.
fn matching(s: &str, open: usize) -> usize {
    let (mut depth, mut in_string) = (0i32, false);
    for (i, c) in s[open..].char_indices() {
        match c {
            '"' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    s.len() - 1
}
