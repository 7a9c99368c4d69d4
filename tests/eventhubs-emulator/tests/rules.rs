//! The service rules the emulator enforces (see the README's rules table for their sources),
//! each shown with a client that breaks it, and with the switch that turns it off.

mod common;

use common::raw::{RawClient, put_token_on};
use common::*;
use eventhubs_emulator::{EmulatorConfig, Rules};
use fe2o3::link::Sender;
use fe2o3_types::messaging::Message;
use futures::StreamExt;
use std::time::Duration;

/// The AMQP condition a refused or dropped link was detached with, from fe2o3's error text.
async fn detached_with(sender: &mut Sender) -> String {
    within("detach", sender.on_detach()).await.to_string()
}

/// Azure's quota: five receivers without an owner level per partition and consumer group. The
/// sixth SDK client gets the service's `amqp:resource-limit-exceeded`.
#[tokio::test]
async fn a_sixth_receiver_on_a_partition_is_refused_with_resource_limit_exceeded() {
    let emulator = start().await;
    let producer = producer(&emulator).await;
    send_to_partition(&producer, "0", "r", 1).await;
    let earliest = || position(azure_messaging_eventhubs::StartLocation::Earliest, false);
    let mut held = Vec::new();
    for _ in 0..5 {
        let client = consumer_with(&emulator, None, None, fast_retries(0)).await;
        let receiver = within("open", client.open_receiver_on_partition("0".into(), earliest())).await.unwrap();
        assert_eq!(body(&receive(&receiver, 1).await[0]), "r0", "each of the five receives");
        held.push((client, receiver));
    }
    let sixth = consumer_with(&emulator, None, None, fast_retries(0)).await;
    let refused = within("open", sixth.open_receiver_on_partition("0".into(), earliest())).await.unwrap();
    {
        let stream = refused.stream_events();
        futures::pin_mut!(stream);
        let error = within("refusal", stream.next()).await.expect("stream item").expect_err("sixth refused");
        let text = format!("{error:?}");
        assert!(text.contains("Exceeded the maximum number of allowed receivers per partition"), "{text}");
    }
    let counters = emulator.control().counters();
    assert_eq!(counters.receivers_refused, 1);
    // Another consumer group has a quota of its own.
    let other = consumer_with(&emulator, Some("analytics"), None, fast_retries(0)).await;
    let receiver = within("open", other.open_receiver_on_partition("0".into(), earliest())).await.unwrap();
    assert_eq!(body(&receive(&receiver, 1).await[0]), "r0");
    for (client, receiver) in held {
        within("close", receiver.close()).await.unwrap();
        within("close", client.close()).await.unwrap();
    }
    emulator.shutdown().await;
}

/// The lenient switch: six receivers on one partition all read.
#[tokio::test]
async fn without_the_quota_six_receivers_share_a_partition() {
    let rules = Rules { max_receivers_per_partition: None, ..Rules::default() };
    let emulator = start_with(EmulatorConfig::new(default_hubs()).with_rules(rules)).await;
    let producer = producer(&emulator).await;
    send_to_partition(&producer, "0", "r", 1).await;
    let mut held = Vec::new();
    for _ in 0..6 {
        let client = consumer_with(&emulator, None, None, fast_retries(0)).await;
        let earliest = position(azure_messaging_eventhubs::StartLocation::Earliest, false);
        let receiver = within("open", client.open_receiver_on_partition("0".into(), earliest)).await.unwrap();
        assert_eq!(body(&receive(&receiver, 1).await[0]), "r0");
        held.push((client, receiver));
    }
    assert_eq!(emulator.control().counters().receivers_refused, 0);
    emulator.shutdown().await;
}

/// A second `$cbs` link on a connection is refused with `amqp:not-allowed` (the rule is on by
/// default), and allowed when the rule is off.
#[tokio::test]
async fn a_second_cbs_link_on_a_connection_is_refused_when_the_rule_is_on() {
    let emulator = start().await;
    let mut client = RawClient::connect(&emulator).await;
    let (mut first, mut replies, reply_to) = RawClient::cbs_links(&mut client.session).await;
    let mut other_session = client.session().await;
    let mut second = Sender::attach(&mut other_session, "second-cbs", "$cbs").await.expect("attach answered");
    let error = detached_with(&mut second).await;
    assert!(error.contains("not-allowed") || error.contains("NotAllowed"), "{error}");
    // The first pair still works, and once it is closed a new one may attach.
    assert_eq!(
        put_token_on(&mut first, &mut replies, &reply_to, "amqps://ns/telemetry", Duration::from_secs(60)).await,
        202
    );
    first.close().await.unwrap();
    replies.close().await.unwrap();
    assert_eq!(client.put_token("amqps://ns/telemetry", Duration::from_secs(60)).await, 202);
    assert_eq!(emulator.control().counters().rule_refusals, 1);
    assert_eq!(emulator.control().counters().cbs_links_refused, 1);
    emulator.shutdown().await;

    let off = Rules { one_cbs_link_per_connection: false, ..Rules::default() };
    let lenient = start_with(EmulatorConfig::new(default_hubs()).with_rules(off)).await;
    let mut client = RawClient::connect(&lenient).await;
    let (_first, _replies, _) = RawClient::cbs_links(&mut client.session).await;
    let mut other_session = client.session().await;
    let (mut second, mut replies, reply_to) = RawClient::cbs_links(&mut other_session).await;
    let status = put_token_on(&mut second, &mut replies, &reply_to, "amqps://ns/telemetry", Duration::from_secs(60));
    assert_eq!(status.await, 202, "with the rule off a second $cbs pair works");
    lenient.shutdown().await;
}

/// Links need a token put on `$cbs` for their entity, and are dropped with
/// `amqp:unauthorized-access` when it expires without renewal; a renewal keeps them.
#[tokio::test]
async fn links_need_an_unexpired_token_and_are_dropped_when_it_expires() {
    let rules = Rules { token_expiry: true, ..Rules::default() };
    let emulator = start_with(EmulatorConfig::new(default_hubs()).with_rules(rules)).await;
    let mut client = RawClient::connect(&emulator).await;
    let mut unauthorized = Sender::attach(&mut client.session, "no-token", "amqps://ns/telemetry").await.unwrap();
    let error = detached_with(&mut unauthorized).await;
    assert!(error.contains("unauthorized-access") || error.contains("UnauthorizedAccess"), "{error}");

    assert_eq!(client.put_token("amqps://ns/telemetry", Duration::from_millis(1500)).await, 202);
    let first_expiry = tokio::time::Instant::now() + Duration::from_millis(1500);
    let mut renewed =
        Sender::attach(&mut client.session, "renewed", "amqps://ns/telemetry/Partitions/0").await.unwrap();
    renewed.send(Message::builder().data(b"before".to_vec()).build()).await.unwrap().accepted_or_else(|o| o).unwrap();
    let mut other = RawClient::connect(&emulator).await;
    assert_eq!(other.put_token("amqps://ns/telemetry/Partitions/1", Duration::from_millis(1500)).await, 202);
    let mut expiring =
        Sender::attach(&mut other.session, "expiring", "amqps://ns/telemetry/Partitions/1").await.unwrap();
    // Renew the first connection's token; the second one's runs out.
    assert_eq!(client.put_token("amqps://ns/telemetry", Duration::from_secs(60)).await, 202);
    let error = detached_with(&mut expiring).await;
    assert!(error.contains("unauthorized-access") || error.contains("UnauthorizedAccess"), "{error}");
    // Well past the first token's expiry, the renewed link still sends.
    let past = first_expiry + Duration::from_millis(200);
    wait_until("the first token's expiry to pass", Duration::from_secs(10), || async {
        tokio::time::Instant::now() > past
    })
    .await;
    renewed.send(Message::builder().data(b"after".to_vec()).build()).await.unwrap().accepted_or_else(|o| o).unwrap();
    let stored = emulator.stored_bodies("telemetry").unwrap();
    assert_eq!(stored[0], vec![b"before".to_vec(), b"after".to_vec()]);
    emulator.shutdown().await;
}

/// Off (`,-token`): a link without any token is served.
#[tokio::test]
async fn without_the_token_rule_links_need_no_token() {
    let rules = Rules { token_expiry: false, ..Rules::default() };
    let emulator = start_with(EmulatorConfig::new(default_hubs()).with_rules(rules)).await;
    let mut client = RawClient::connect(&emulator).await;
    let mut sender =
        Sender::attach(&mut client.session, "no-token", "amqps://ns/telemetry/Partitions/2").await.unwrap();
    sender.send(Message::builder().data(b"anyway".to_vec()).build()).await.unwrap().accepted_or_else(|o| o).unwrap();
    assert_eq!(emulator.stored_bodies("telemetry").unwrap()[2], vec![b"anyway".to_vec()]);
    emulator.shutdown().await;
}
