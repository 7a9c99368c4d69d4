//! The check report: one line per check for people, one JSON document for machines.
use super::{Check, Origins, Outcome};

/// One line per check (`✔`, `✘` or `–`, name, endpoint, setting and its origin, then what was
/// found or the cause and fix), and a closing count.
pub fn text(checks: &[Check], origins: &Origins) -> String {
    let mut out = String::new();
    for c in checks {
        let place = match (c.endpoint.is_empty(), c.setting.is_empty()) {
            (true, true) => String::new(),
            (true, false) => format!(" [{} from {}]", c.setting, origins.of(&c.setting)),
            (false, true) => format!(" {}", c.endpoint),
            (false, false) => format!(" {} [{} from {}]", c.endpoint, c.setting, origins.of(&c.setting)),
        };
        let line = match &c.outcome {
            Outcome::Pass(detail) => format!("✔ {}{place}: {detail}", c.name),
            Outcome::Fail { class, cause, fix } => format!("✘ {}{place}: {class}: {cause} — fix: {fix}", c.name),
            Outcome::Skipped(why) => format!("– {}{place}: skipped: {why}", c.name),
        };
        // One line per check, whatever the service's message holds.
        out.push_str(&line.replace(['\r', '\n'], " "));
        out.push('\n');
    }
    let failed = checks.iter().filter(|c| !c.passed()).count();
    if failed == 0 {
        out.push_str(&format!("all {} checks passed\n", checks.len()));
    } else {
        out.push_str(&format!("{failed} of {} checks did not pass\n", checks.len()));
    }
    out
}

/// `{"ok": bool, "checks": [{name, status, endpoint, setting, origin, detail | class, cause, fix}]}`.
pub fn json(checks: &[Check], origins: &Origins) -> String {
    let items: Vec<serde_json::Value> = checks
        .iter()
        .map(|c| {
            let mut v = serde_json::json!({
                "name": c.name,
                "endpoint": c.endpoint,
                "setting": c.setting,
                "origin": origins.of(&c.setting),
            });
            let extra = match &c.outcome {
                Outcome::Pass(detail) => serde_json::json!({"status": "pass", "detail": detail}),
                Outcome::Fail { class, cause, fix } => {
                    serde_json::json!({"status": "fail", "class": class, "cause": cause, "fix": fix})
                }
                Outcome::Skipped(why) => serde_json::json!({"status": "skipped", "detail": why}),
            };
            if let (Some(v), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
                v.extend(extra);
            }
            v
        })
        .collect();
    let ok = checks.iter().all(Check::passed);
    serde_json::json!({"ok": ok, "checks": items}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::probe::FailureClass;

    fn sample() -> Vec<Check> {
        vec![
            Check::new("offsets table", "http://h/acct/t1", "offsets.table", Outcome::Pass("exists".into())),
            Check::new(
                "input hub",
                "amqp://h:1/ns/hub",
                "input.hub",
                Outcome::Fail { class: FailureClass::Refused, cause: "nothing listens".into(), fix: "start it".into() },
            ),
            Check::new(
                "consumer group",
                "amqp://h:1/ns/hub",
                "input.consumer_group",
                Outcome::Skipped("no hub".into()),
            ),
        ]
    }

    #[test]
    fn one_line_per_check_naming_endpoint_setting_cause_and_fix() {
        let origins =
            Origins { file: Some("/etc/flowlog.toml".into()), flags: vec![("input.consumer_group", "--flag")] };
        let text = text(&sample(), &origins);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "✔ offsets table http://h/acct/t1 [offsets.table from /etc/flowlog.toml]: exists");
        assert!(lines[1].starts_with("✘ input hub amqp://h:1/ns/hub [input.hub from"), "{}", lines[1]);
        assert!(lines[1].ends_with(": connection refused: nothing listens — fix: start it"), "{}", lines[1]);
        assert!(
            lines[2].starts_with("– consumer group amqp://h:1/ns/hub [input.consumer_group from --flag]"),
            "{}",
            lines[2]
        );
        assert_eq!(lines[3], "2 of 3 checks did not pass");
    }

    #[test]
    fn json_has_status_and_class_per_check() {
        let v: serde_json::Value = serde_json::from_str(&json(&sample(), &Origins::default())).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["checks"][0]["status"], "pass");
        assert_eq!(v["checks"][1]["class"], "refused");
        assert_eq!(v["checks"][1]["fix"], "start it");
        assert_eq!(v["checks"][2]["status"], "skipped");
    }
}
