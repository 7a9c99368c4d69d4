//! The Logs Ingestion check (`output.kind = "log_analytics"`): one call with an empty array to
//! the rule's stream (see `azure::probe::logs_ingestion`), with advice naming the endpoint, the
//! Monitoring Metrics Publisher role on the rule, or the rule's id and stream.
use super::advice::{Dependency, Secret};
use super::azure::probe;
use super::{Check, Options};
use crate::app::azure_wiring::Credentials;
use crate::app::config::LogAnalyticsConfig;
use crate::azure::logs_ingestion::Client;
use crate::azure::probe::logs_ingestion::empty_call;
use crate::azure::probe::{FailureClass, ProbeError};

pub async fn check(la: &LogAnalyticsConfig, creds: &Credentials, o: Options) -> Check {
    let (id, stream) = (&la.dcr_immutable_id, &la.stream);
    let dep = Dependency {
        setting: "log_analytics.dcr_immutable_id".into(),
        address: "log_analytics.endpoint".into(),
        endpoint: format!("{}/dataCollectionRules/{id}/streams/{stream}", la.endpoint),
        secret: Secret::of("log_analytics", false, false, la.token.is_some()),
        role: "Monitoring Metrics Publisher".into(),
        scope: format!("data collection rule {id}"),
        when_missing: format!(
            "no data collection rule {id} with stream {stream} at {}: check log_analytics.dcr_immutable_id (the rule's immutableId) and log_analytics.stream (a stream the rule declares), and that log_analytics.endpoint is the rule's data collection endpoint",
            la.endpoint
        ),
    };
    probe("log analytics", &dep, o, async {
        let mut la = la.clone();
        la.timeout = la.timeout.min(o.timeout);
        let target = creds
            .logs_ingestion_target(&la)
            .map_err(|e| ProbeError::new(FailureClass::Credential, format!("{e:#}")))?;
        let client = Client::new(target).map_err(|e| ProbeError::new(FailureClass::Other, e.to_string()))?;
        empty_call(&client).await
    })
    .await
}
