//! The fake's control routes (same listener, under `/control/`): the fault schedule, and what
//! was stored and called, for scripts and the local stack.
use super::http1::Request;
use super::{Fault, Shared};

pub fn handle(req: &Request, shared: &Shared) -> (u16, String) {
    let (path, _) = req.path_and_query();
    match (req.method.as_str(), path) {
        ("GET", "/control/rows") => (200, shared.lock().rows.iter().map(|r| format!("{r}\n")).collect()),
        ("GET", "/control/calls") => {
            let calls = shared.lock().calls.clone();
            (200, calls.iter().filter_map(|c| serde_json::to_string(c).ok()).map(|l| l + "\n").collect())
        }
        ("POST", "/control/clear") => {
            shared.lock().faults.clear();
            (200, r#"{"faults":0}"#.into())
        }
        ("POST", "/control/faults") => match fault(req) {
            Ok(fault) => {
                let count = req.query("count").and_then(|c| c.parse().ok()).unwrap_or(1usize);
                let mut inner = shared.lock();
                inner.faults.extend(std::iter::repeat_n(fault, count));
                (200, format!(r#"{{"faults":{}}}"#, inner.faults.len()))
            }
            Err(e) => (400, serde_json::json!({ "error": e }).to_string()),
        },
        _ => (404, r#"{"error":"no such route"}"#.into()),
    }
}

fn fault(req: &Request) -> Result<Fault, String> {
    Ok(match req.query("kind") {
        Some("throttle") => Fault::Throttle { retry_after: req.query("retry_after").unwrap_or("1").to_string() },
        Some("server_error") => Fault::ServerError(req.query("status").and_then(|s| s.parse().ok()).unwrap_or(503)),
        Some("silence") => Fault::Silence,
        Some("reset") => Fault::Reset,
        Some("too_large") => Fault::TooLarge,
        other => return Err(format!("kind {other:?} is not throttle, server_error, silence, reset or too_large")),
    })
}
