//! The hunting queries of `docs/SENTINEL.md` (its ```kql blocks) are analyzed with
//! Kusto.Language over `ASimNetworkSessionLogs` (the columns of
//! `tests/data/sentinel/asim-network-session-logs.columns`) and over `_Im_NetworkSession`, so a
//! query naming a column the table does not have fails here.

#[path = "support/sentinel.rs"]
mod sentinel;

use sentinel::{analyze_over, read, table_columns};

/// `_Im_NetworkSession` as far as the queries use it: Sentinel's unifying parser over the table,
/// with its time parameters and the ASIM aliases it adds.
const IM_NETWORK_SESSION: &str =
    "let _Im_NetworkSession = (starttime: datetime = datetime(null), endtime: datetime = datetime(null)) {
    ASimNetworkSessionLogs
    | where (isnull(starttime) or TimeGenerated >= starttime) and (isnull(endtime) or TimeGenerated <= endtime)
    | extend Src = SrcIpAddr, Dst = DstIpAddr, IpAddr = SrcIpAddr, Rule = NetworkRuleName, Duration = NetworkDuration
};
";

/// The ```kql blocks of a Markdown text.
fn kql_blocks(markdown: &str) -> Vec<String> {
    let (mut out, mut current): (Vec<String>, Option<String>) = (Vec::new(), None);
    for line in markdown.lines() {
        match (&mut current, line.trim()) {
            (None, "```kql") => current = Some(String::new()),
            (Some(block), "```") => {
                out.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

/// Errors of each query analyzed over ASimNetworkSessionLogs (empty vectors when they are good).
fn query_errors(queries: &[String]) -> Vec<Vec<String>> {
    let columns: Vec<(String, String)> = table_columns().into_iter().collect();
    let dir = std::env::temp_dir().join(format!("flowlog-sentinel-queries-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<String> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let file = dir.join(format!("q{i}.kql"));
            std::fs::write(&file, format!("{IM_NETWORK_SESSION}{q}")).unwrap();
            file.display().to_string()
        })
        .collect();
    let out = analyze_over("ASimNetworkSessionLogs", &files, &columns).into_iter().map(|(errors, _)| errors).collect();
    std::fs::remove_dir_all(&dir).ok();
    out
}

#[test]
fn the_hunting_queries_in_the_docs_analyze_cleanly() {
    let queries = kql_blocks(&read("docs/SENTINEL.md"));
    assert!(queries.len() >= 5, "expected the hunting queries, found {}", queries.len());
    assert!(queries.iter().any(|q| q.contains("_Im_NetworkSession(")), "one query uses the unifying parser");
    for (query, errors) in queries.iter().zip(query_errors(&queries)) {
        assert!(errors.is_empty(), "{query}\n{errors:?}");
    }
    // A misspelled column fails, so the loop above is not vacuous.
    let broken = queries[0].replacen("DvcAction", "DvcActon", 1);
    let errors = &query_errors(&[broken])[0];
    assert!(errors.iter().any(|e| e.contains("DvcActon")), "{errors:?}");
}
