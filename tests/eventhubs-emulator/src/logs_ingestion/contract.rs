//! The documented contract of one ingestion call, checked in the order the service checks it:
//! the token, the rule and stream, the size, the body. Pure: the request in, rows or a refusal
//! out (status and the service's `{"error":{"code","message"}}` body).
use std::io::Read;

use base64::Engine as _;
use serde_json::value::RawValue;

use super::http1::Request;
use super::{LogsIngestionConfig, MONITOR_AUDIENCE, NO_ROLE_SUBJECT};

/// A refusal: status and JSON body.
pub type Refusal = (u16, String);

fn refuse(status: u16, code: &str, message: &str) -> Refusal {
    (status, serde_json::json!({"error": {"code": code, "message": message}}).to_string())
}

/// The rows of an acceptable call, as their JSON text; or why it is refused.
pub fn judge(req: &Request, config: &LogsIngestionConfig) -> Result<Vec<String>, Refusal> {
    authorize(req.header("authorization"))?;
    let (path, _) = req.path_and_query();
    let expected = format!("/dataCollectionRules/{}/streams/{}", config.dcr_immutable_id, config.stream);
    if path != expected {
        return Err(refuse(404, "NotFound", &format!("no data collection rule and stream at {path}")));
    }
    if req.query("api-version").is_none() {
        return Err(refuse(400, "MissingApiVersionParameter", "the api-version query parameter is required"));
    }
    if req.body.len() > config.max_body {
        return Err(refuse(413, "ContentLengthLimitExceeded", "the request is over the 1 MB limit"));
    }
    let gzip = req.header("content-encoding").is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
    let body = if gzip {
        let mut out = Vec::new();
        let limit = config.max_body as u64 + 1;
        flate2::read::GzDecoder::new(&req.body[..])
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| refuse(400, "InvalidContentEncoding", &format!("the body is not gzip: {e}")))?;
        if out.len() > config.max_body {
            return Err(refuse(413, "ContentLengthLimitExceeded", "the decoded request is over the 1 MB limit"));
        }
        out
    } else {
        req.body.clone()
    };
    let rows: Vec<Box<RawValue>> = serde_json::from_slice(&body)
        .map_err(|e| refuse(400, "InvalidPayload", &format!("the body is not a JSON array: {e}")))?;
    if let Some(i) = rows.iter().position(|r| !r.get().starts_with('{')) {
        return Err(refuse(400, "InvalidPayload", &format!("item {i} of the array is not an object")));
    }
    Ok(rows.into_iter().map(|r| r.get().to_string()).collect())
}

/// 401 without a bearer token or for another audience, 403 for the subject without the role.
fn authorize(header: Option<&str>) -> Result<(), Refusal> {
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return Err(refuse(401, "InvalidAuthenticationToken", "an Authorization: Bearer token is required"));
    };
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
        .ok_or_else(|| refuse(401, "InvalidAuthenticationToken", "the token is not a JWT"))?;
    let aud = claims["aud"].as_str().unwrap_or("");
    if aud.trim_end_matches('/') != MONITOR_AUDIENCE {
        return Err(refuse(
            401,
            "InvalidAuthenticationTokenAudience",
            &format!("the token's audience {aud:?} is not {MONITOR_AUDIENCE}"),
        ));
    }
    if claims["sub"].as_str() == Some(NO_ROLE_SUBJECT) {
        return Err(refuse(
            403,
            "OperationFailed",
            "the identity lacks Microsoft.Insights/Telemetry/Write on the rule",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs_ingestion::test_token;
    use std::collections::HashMap;
    use std::io::Write;

    fn request(token: Option<String>, path: &str, body: &[u8], gzip: bool) -> Request {
        let mut headers = HashMap::new();
        if let Some(t) = token {
            headers.insert("authorization".to_string(), format!("Bearer {t}"));
        }
        if gzip {
            headers.insert("content-encoding".to_string(), "gzip".to_string());
        }
        Request { method: "POST".into(), target: path.into(), headers, body: body.to_vec() }
    }

    #[test]
    fn the_contract_is_checked_in_order() {
        let c = LogsIngestionConfig { max_body: 64, ..Default::default() };
        let path = format!("/dataCollectionRules/{}/streams/{}?api-version=2023-01-01", c.dcr_immutable_id, c.stream);
        let good = Some(test_token(MONITOR_AUDIENCE, "flowlog"));
        let status = |r: &Request| judge(r, &c).map(|_| 204).unwrap_or_else(|(s, _)| s);
        assert_eq!(
            judge(&request(good.clone(), &path, br#"[{"a":1},{"b":2}]"#, false), &c).unwrap(),
            [r#"{"a":1}"#, r#"{"b":2}"#]
        );
        assert_eq!(status(&request(None, &path, b"[]", false)), 401);
        assert_eq!(status(&request(Some(test_token("https://storage.azure.com", "x")), &path, b"[]", false)), 401);
        assert_eq!(status(&request(Some(test_token(MONITOR_AUDIENCE, NO_ROLE_SUBJECT)), &path, b"[]", false)), 403);
        assert_eq!(status(&request(good.clone(), &path.replace("Custom-", "Custom-X"), b"[]", false)), 404);
        assert_eq!(status(&request(good.clone(), path.split('?').next().unwrap(), b"[]", false)), 400);
        assert_eq!(status(&request(good.clone(), &path, &[b' '; 65], false)), 413);
        assert_eq!(status(&request(good.clone(), &path, br#"{"a":1}"#, false)), 400, "not an array");
        assert_eq!(status(&request(good.clone(), &path, b"[1]", false)), 400, "not objects");
        assert_eq!(status(&request(good.clone(), &path, b"[]", true)), 400, "not gzip");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(format!("[{}]", vec![r#"{"a":1}"#; 20].join(",")).as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() <= 64);
        assert_eq!(status(&request(good, &path, &gz, true)), 413, "decoded size counts too");
    }
}
