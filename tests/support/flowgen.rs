//! Random flow-log blobs for property tests: valid records of every layout, random whitespace,
//! and an optional invalid tuple, built as text exactly as Azure frames them.
use proptest::prelude::*;

fn nsg_tuple(v2: bool, i: u32, bad: bool) -> String {
    let ip = if bad { "10.0.0.999".to_string() } else { format!("10.0.{}.{}", i % 250, i % 7) };
    let base = format!("{},{ip},192.0.2.{},{},443,T,I,A", 1_542_110_400 + i, i % 250, 1000 + i);
    if !v2 {
        base
    } else if i.is_multiple_of(3) {
        format!("{base},B,,,,")
    } else {
        format!("{base},C,{},{},{},{}", i, i * 60, i, i * 70)
    }
}

fn vnet_tuple(i: u32, bad: bool) -> String {
    let enc = if bad { "MAYBE" } else { "NX" };
    format!(
        "{},10.0.0.6,2001:db8::{:x},{},443,{},O,E,{enc},1,2,3,4",
        1_663_146_003_000u64 + i as u64,
        i,
        i,
        [6, 17, 1][i as usize % 3]
    )
}

fn tuples(n: u32, f: impl Fn(u32) -> String) -> String {
    (0..n).map(|i| format!("\"{}\"", f(i))).collect::<Vec<_>>().join(",")
}

/// One record: `kind` 0 = NSG v1, 1 = NSG v2, 2 = VNet; `groups` tuple counts per group.
pub fn record(kind: u8, groups: &[u32], bad: Option<u32>) -> String {
    let is_bad = |i: u32| bad == Some(i);
    match kind {
        0 | 1 => {
            let flows: Vec<String> = groups
                .iter()
                .enumerate()
                .map(|(g, n)| {
                    let t = tuples(*n, |i| nsg_tuple(kind == 1, i, is_bad(i) && g == 0));
                    format!(r#"{{"rule":"rule{g}","flows":[{{"mac":"000D3AF8801A","flowTuples":[{t}]}}]}}"#)
                })
                .collect();
            format!(
                r#"{{"time":"2018-11-13T12:00:35.3899262Z","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N","properties":{{"Version":{},"flows":[{}]}}}}"#,
                kind + 1,
                flows.join(",")
            )
        }
        _ => {
            let groups: Vec<String> = groups
                .iter()
                .enumerate()
                .map(|(g, n)| {
                    let t = tuples(*n, |i| vnet_tuple(i, is_bad(i) && g == 0));
                    format!(r#"{{"rule":"r{g}","flowTuples":[{t}]}}"#)
                })
                .collect();
            format!(
                r#"{{"time":"2022-09-14T09:00:52.5625085Z","macAddress":"112233445566","category":"FlowLogFlowEvent","flowLogResourceID":"/SUBSCRIPTIONS/S2/RESOURCEGROUPS/NW/X","targetResourceID":"/subscriptions/S2/resourceGroups/rg2/v","flowLogVersion":4,"flowRecords":{{"flows":[{{"aclID":"acl","flowGroups":[{}]}}]}}}}"#,
                groups.join(",")
            )
        }
    }
}

/// The same record with its `time` moved after the flows (JSON does not fix key order): same
/// length and same rows, but rows can only be produced once the record has ended.
pub fn record_time_last(kind: u8, groups: &[u32], bad: Option<u32>) -> String {
    let rec = record(kind, groups, bad);
    let end = rec.find(",").unwrap();
    let time = &rec[1..end];
    format!("{{{},{time}}}", &rec[end + 1..rec.len() - 1])
}

/// The content of a blob before its `]}` tail: head, then records separated by `,` and whitespace.
pub fn blob_strategy() -> impl Strategy<Value = String> {
    blob_strategy_sized(4, false)
}

/// Like [`blob_strategy`] with up to `max_tuples` tuples per group and, when `reorder`, some
/// records with their header after their tuples.
pub fn blob_strategy_sized(max_tuples: u32, reorder: bool) -> impl Strategy<Value = String> {
    let rec = (
        0u8..3,
        prop::collection::vec(0u32..max_tuples, 0..3),
        prop::option::weighted(0.2, 0u32..3),
        prop::bool::weighted(if reorder { 0.3 } else { 0.0 }),
    );
    let ws = prop::sample::select(vec!["", "\n", "\r\n", " ", "\t "]);
    (ws.clone(), prop::collection::vec((rec, ws), 0..6)).prop_map(|(head_ws, recs)| {
        let mut s = format!("{{\"records\":[{head_ws}");
        for (i, ((kind, groups, bad, time_last), ws)) in recs.into_iter().enumerate() {
            if i > 0 {
                s.push_str(ws);
                s.push(',');
            }
            let text = if time_last { record_time_last(kind, &groups, bad) } else { record(kind, &groups, bad) };
            s.push_str(&text);
        }
        s
    })
}
