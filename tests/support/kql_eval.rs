//! Evaluates the scalar KQL expressions flowlog's ASIM mappings use on one row, with Kusto's
//! semantics where they matter here: a missing string is the empty string, arithmetic with a
//! null number is null, `contains` ignores case, `coalesce` of strings takes the first non-empty.
//!
//! Understood: string and number literals, `int(n)`, row fields, `==`, `contains`, `+`, and the
//! calls `iff`/`iif`, `case`, `coalesce`, `isnotempty`, `toupper`, `tostring`, `bag_pack`/`pack`.
//! Anything else is an error naming it, so a mapping that grows past this fails loudly.

use serde_json::{Map, Value};

/// A row field's value; `Str` for every string field (Kusto has no null string).
pub fn field(row: &Map<String, Value>, name: &str, is_string: bool) -> Value {
    match row.get(name) {
        Some(Value::Null) | None if is_string => Value::String(String::new()),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(i64),
    Punct(&'static str),
}

fn tokens(expr: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let end = chars[i + 1..].iter().position(|&c| c == '"').ok_or("unterminated string")? + i + 1;
            out.push(Token::Str(chars[i + 1..end].iter().collect()));
            i = end + 1;
        } else if c.is_ascii_digit() {
            let len = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            out.push(Token::Num(chars[i..i + len].iter().collect::<String>().parse().unwrap()));
            i += len;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let len = chars[i..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '_').count();
            out.push(Token::Ident(chars[i..i + len].iter().collect()));
            i += len;
        } else if c == '=' && chars.get(i + 1) == Some(&'=') {
            out.push(Token::Punct("=="));
            i += 2;
        } else if let Some(p) = ["(", ")", ",", "+"].into_iter().find(|p| p.starts_with(c)) {
            out.push(Token::Punct(p));
            i += 1;
        } else {
            return Err(format!("unexpected `{c}` in `{expr}`"));
        }
    }
    Ok(out)
}

/// Evaluates `expr` on a row; `get` returns a field's value.
pub fn eval(expr: &str, get: &dyn Fn(&str) -> Option<Value>) -> Result<Value, String> {
    let tokens = tokens(expr)?;
    let mut p = Parser { tokens: &tokens, at: 0, get };
    let v = p.comparison()?;
    if p.at != tokens.len() {
        return Err(format!("trailing input in `{expr}` at token {}", p.at));
    }
    Ok(v)
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    get: &'a dyn Fn(&str) -> Option<Value>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn expect(&mut self, p: &'static str) -> Result<(), String> {
        match self.tokens.get(self.at) {
            Some(Token::Punct(q)) if *q == p => {
                self.at += 1;
                Ok(())
            }
            other => Err(format!("expected `{p}`, found {other:?}")),
        }
    }

    fn comparison(&mut self) -> Result<Value, String> {
        let left = self.sum()?;
        match self.peek() {
            Some(Token::Punct("==")) => {
                self.at += 1;
                let right = self.sum()?;
                Ok(Value::Bool(left == right))
            }
            Some(Token::Ident(op)) if op == "contains" => {
                self.at += 1;
                let right = self.sum()?;
                Ok(Value::Bool(text(&left).to_lowercase().contains(&text(&right).to_lowercase())))
            }
            _ => Ok(left),
        }
    }

    fn sum(&mut self) -> Result<Value, String> {
        let mut total = self.primary()?;
        while self.peek() == Some(&Token::Punct("+")) {
            self.at += 1;
            let next = self.primary()?;
            total = match (total.as_i64(), next.as_i64()) {
                (Some(a), Some(b)) => Value::from(a + b),
                _ => Value::Null,
            };
        }
        Ok(total)
    }

    fn primary(&mut self) -> Result<Value, String> {
        let token = self.tokens.get(self.at).cloned().ok_or("unexpected end")?;
        self.at += 1;
        match token {
            Token::Str(s) => Ok(Value::String(s)),
            Token::Num(n) => Ok(Value::from(n)),
            Token::Ident(name) if self.peek() == Some(&Token::Punct("(")) => {
                self.at += 1;
                let mut args = Vec::new();
                if self.peek() != Some(&Token::Punct(")")) {
                    loop {
                        args.push(self.comparison()?);
                        if self.peek() == Some(&Token::Punct(",")) {
                            self.at += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect(")")?;
                call(&name, args)
            }
            Token::Ident(name) => (self.get)(&name).ok_or(format!("unknown column {name}")),
            Token::Punct(p) => Err(format!("unexpected `{p}`")),
        }
    }
}

fn call(name: &str, args: Vec<Value>) -> Result<Value, String> {
    let truthy = |v: &Value| v == &Value::Bool(true);
    match (name, args.as_slice()) {
        ("int", [n]) => Ok(n.clone()),
        ("iff" | "iif", [c, a, b]) => Ok(if truthy(c) { a.clone() } else { b.clone() }),
        ("case", [pairs @ .., otherwise]) if pairs.len() % 2 == 0 => {
            Ok(pairs.chunks(2).find(|p| truthy(&p[0])).map_or(otherwise.clone(), |p| p[1].clone()))
        }
        ("coalesce", values) => Ok(values
            .iter()
            .find(|v| !v.is_null() && v.as_str() != Some(""))
            .cloned()
            .unwrap_or(Value::String(String::new()))),
        ("isnotempty", [v]) => Ok(Value::Bool(!v.is_null() && v.as_str() != Some(""))),
        ("toupper", [v]) => Ok(Value::String(text(v).to_uppercase())),
        ("tostring", [v]) => Ok(Value::String(text(v))),
        ("bag_pack" | "pack", pairs) if pairs.len() % 2 == 0 => {
            Ok(Value::Object(pairs.chunks(2).map(|p| (text(&p[0]), p[1].clone())).collect()))
        }
        _ => Err(format!("{name}() with {} argument(s) is not understood", args.len())),
    }
}
