//! Event Grid decoding against the samples of Microsoft's "Azure Blob Storage as an Event Grid
//! source" page (both schemas), and against what an untrusted sender could put in a body.
use super::*;

/// The EventGridSchema BlobCreated sample from Microsoft's docs (account and ids as published).
const EVENT_GRID_SAMPLE: &str = r#"[{
  "topic": "/subscriptions/{subscription-id}/resourceGroups/Storage/providers/Microsoft.Storage/storageAccounts/my-storage-account",
  "subject": "/blobServices/default/containers/test-container/blobs/new-file.txt",
  "eventType": "Microsoft.Storage.BlobCreated",
  "eventTime": "2017-06-26T18:41:00.9584103Z",
  "id": "831e1650-001e-001b-66ab-eeb76e069631",
  "data": {
    "api": "PutBlockList",
    "clientRequestId": "6d79dbfb-0e37-4fc4-981f-442c9ca65760",
    "requestId": "831e1650-001e-001b-66ab-eeb76e000000",
    "eTag": "\"0x8D4BCC2E4835CD0\"",
    "contentType": "text/plain",
    "contentLength": 524288,
    "blobType": "BlockBlob",
    "accessTier": "Default",
    "url": "https://my-storage-account.blob.core.windows.net/testcontainer/new-file.txt",
    "sequencer": "00000000000004420000000000028963",
    "storageDiagnostics": { "batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0" }
  },
  "dataVersion": "",
  "metadataVersion": "1"
}]"#;

/// The CloudEvents 1.0 BlobCreated sample from the same page.
const CLOUD_EVENTS_SAMPLE: &str = r#"[{
  "source": "/subscriptions/{subscription-id}/resourceGroups/Storage/providers/Microsoft.Storage/storageAccounts/my-storage-account",
  "subject": "/blobServices/default/containers/test-container/blobs/new-file.txt",
  "type": "Microsoft.Storage.BlobCreated",
  "time": "2017-06-26T18:41:00.9584103Z",
  "id": "831e1650-001e-001b-66ab-eeb76e069631",
  "data": {
    "api": "PutBlockList",
    "clientRequestId": "6d79dbfb-0e37-4fc4-981f-442c9ca65760",
    "requestId": "831e1650-001e-001b-66ab-eeb76e000000",
    "eTag": "\"0x8D4BCC2E4835CD0\"",
    "contentType": "text/plain",
    "contentLength": 524288,
    "blobType": "BlockBlob",
    "accessTier": "Default",
    "url": "https://my-storage-account.blob.core.windows.net/testcontainer/new-file.txt",
    "sequencer": "00000000000004420000000000028963",
    "storageDiagnostics": { "batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0" }
  },
  "specversion": "1.0"
}]"#;

fn allowed() -> AllowedSources {
    AllowedSources::parse(&[
        "https://my-storage-account.blob.core.windows.net/testcontainer",
        "https://my-storage-account.blob.core.windows.net/test-container",
        "http://127.0.0.1:10000/devstoreaccount1/insights-logs-flowlogflowevent",
    ])
    .unwrap()
}

fn changed(items: &[EventBody]) -> Vec<&BlobChanged> {
    items.iter().filter_map(|i| if let EventBody::Changed(c) = i { Some(c) } else { None }).collect()
}

#[test]
fn documented_samples_of_both_schemas_decode_to_the_same_change() {
    for sample in [EVENT_GRID_SAMPLE, CLOUD_EVENTS_SAMPLE] {
        let items = decode(sample.as_bytes(), &allowed());
        assert_eq!(
            items,
            vec![EventBody::Changed(BlobChanged {
                blob: "my-storage-account/testcontainer/new-file.txt".into(),
                content_length: 524288,
                sequencer: Some("00000000000004420000000000028963".into()),
                // The documented samples quote it, as the HTTP header does; compared unquoted.
                etag: Some("0x8D4BCC2E4835CD0".into()),
                enqueued_ms: None,
            })]
        );
    }
}

#[test]
fn bare_objects_and_arrays_of_several_events_keep_their_order() {
    let mut events: Vec<Value> = serde_json::from_str(EVENT_GRID_SAMPLE).unwrap();
    let mut second = events[0].clone();
    second["data"]["url"] = "https://my-storage-account.blob.core.windows.net/testcontainer/b.json".into();
    second["data"]["contentLength"] = 12.into();
    let mut deleted = events[0].clone();
    deleted["eventType"] = "Microsoft.Storage.BlobDeleted".into();
    events.extend([deleted, second]);
    let items = decode(&serde_json::to_vec(&events).unwrap(), &allowed());
    assert_eq!(items.len(), 3);
    assert!(matches!(&items[1], EventBody::Ignored { reason } if reason.contains("BlobDeleted")));
    let c = changed(&items);
    assert_eq!((c[0].content_length, c[1].blob.as_str()), (524288, "my-storage-account/testcontainer/b.json"));

    let bare = serde_json::to_vec(&events[0]).unwrap();
    assert_eq!(changed(&decode(&bare, &allowed())).len(), 1);
    assert_eq!(decode(b"[]", &allowed()).len(), 1, "an empty array still yields an item to acknowledge");
}

#[test]
fn percent_encoded_paths_are_decoded_once() {
    let mut ev: Value = serde_json::from_str::<Vec<Value>>(CLOUD_EVENTS_SAMPLE).unwrap().remove(0);
    ev["data"]["url"] = "http://127.0.0.1:10000/devstoreaccount1/insights-logs-flowlogflowevent/flowLogResourceID%3D/SUB/x%20y/%2525/PT1H.json".into();
    let items = decode(&serde_json::to_vec(&ev).unwrap(), &allowed());
    assert_eq!(
        changed(&items)[0].blob.as_str(),
        "devstoreaccount1/insights-logs-flowlogflowevent/flowLogResourceID=/SUB/x y/%25/PT1H.json"
    );
}

#[test]
fn without_url_the_subject_and_resource_id_name_the_blob() {
    for sample in [EVENT_GRID_SAMPLE, CLOUD_EVENTS_SAMPLE] {
        let mut ev: Value = serde_json::from_str::<Vec<Value>>(sample).unwrap().remove(0);
        ev["data"].as_object_mut().unwrap().remove("url");
        let items = decode(&serde_json::to_vec(&ev).unwrap(), &allowed());
        assert_eq!(changed(&items)[0].blob.as_str(), "my-storage-account/test-container/new-file.txt");
    }
}

#[test]
fn foreign_accounts_and_containers_are_invalid_with_a_reason() {
    let only_flowlogs = AllowedSources::parse(&["https://flowlogs01.blob.core.windows.net/testcontainer"]).unwrap();
    let items = decode(EVENT_GRID_SAMPLE.as_bytes(), &only_flowlogs);
    let [EventBody::Invalid { reason, raw }] = items.as_slice() else { panic!("{items:?}") };
    assert!(reason.contains("outside the allowed sources"), "{reason}");
    assert_eq!(raw, EVENT_GRID_SAMPLE.as_bytes());
    let mut ev: Value = serde_json::from_str::<Vec<Value>>(EVENT_GRID_SAMPLE).unwrap().remove(0);
    ev["data"].as_object_mut().unwrap().remove("url");
    ev["topic"] = "/subscriptions/x/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/evil".into();
    assert!(matches!(&decode(&serde_json::to_vec(&ev).unwrap(), &allowed())[0], EventBody::Invalid { .. }));
}

#[test]
fn malformed_bodies_and_fields_are_invalid_never_panics() {
    let base: Value = serde_json::from_str::<Vec<Value>>(EVENT_GRID_SAMPLE).unwrap().remove(0);
    let mut cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json".to_vec(), "not JSON"),
        (b"42".to_vec(), "neither"),
        (b"[42]".to_vec(), "not a JSON object"),
        (br#"[{"subject":"x"}]"#.to_vec(), "eventType"),
        (br#"{"eventType":"Microsoft.Storage.BlobCreated"}"#.to_vec(), "no data"),
    ];
    let edits: [(&str, Value, &str); 5] = [
        ("contentLength", (-5).into(), "negative"),
        ("contentLength", "12".into(), "not a non-negative integer"),
        ("contentLength", 1.5.into(), "not a non-negative integer"),
        ("url", 7.into(), "not a string"),
        ("sequencer", 7.into(), "not a string"),
    ];
    let mut owned = Vec::new();
    for (field, value, why) in edits {
        let mut ev = base.clone();
        ev["data"][field] = value;
        owned.push((serde_json::to_vec(&vec![ev]).unwrap(), why));
    }
    let mut missing = base.clone();
    missing["data"].as_object_mut().unwrap().remove("contentLength");
    owned.push((serde_json::to_vec(&missing).unwrap(), "no data.contentLength"));
    cases.extend(owned.iter().map(|(b, w)| (b.clone(), *w)));
    for (body, why) in cases {
        let items = decode(&body, &allowed());
        let [EventBody::Invalid { reason, raw }] = items.as_slice() else { panic!("{items:?}") };
        assert!(reason.contains(why), "{reason:?} should mention {why:?}");
        assert_eq!(raw, &body);
    }
}

#[test]
fn reasons_quote_at_most_about_a_kilobyte_of_the_event() {
    let mut ev: Value = serde_json::from_str::<Vec<Value>>(EVENT_GRID_SAMPLE).unwrap().remove(0);
    let long = format!("https://my-storage-account.blob.core.windows.net/other/{}", "x".repeat(500_000));
    ev["data"]["url"] = long.into();
    let items = decode(&serde_json::to_vec(&ev).unwrap(), &allowed());
    let [EventBody::Invalid { reason, raw }] = items.as_slice() else { panic!("{items:?}") };
    assert!(reason.contains("outside the allowed sources") && reason.len() < 2048, "{} bytes", reason.len());
    assert!(raw.len() > 500_000, "the dead letter keeps the event");
}

#[test]
fn an_etag_quoted_or_not_is_the_same_version_and_an_odd_one_is_none() {
    let base: Value = serde_json::from_str::<Vec<Value>>(EVENT_GRID_SAMPLE).unwrap().remove(0);
    for (value, expected) in [
        (Value::from("\"0x8D4BCC2E4835CD0\""), Some("0x8D4BCC2E4835CD0")),
        (Value::from("0x8D4BCC2E4835CD0"), Some("0x8D4BCC2E4835CD0")),
        (Value::from(""), None),
        (Value::from(7), None),
        (Value::Null, None),
    ] {
        let mut ev = base.clone();
        ev["data"]["eTag"] = value.clone();
        let items = decode(&serde_json::to_vec(&vec![ev]).unwrap(), &allowed());
        let [EventBody::Changed(c)] = items.as_slice() else { panic!("{value}: {items:?}") };
        assert_eq!(c.etag.as_deref(), expected, "{value}");
    }
}
