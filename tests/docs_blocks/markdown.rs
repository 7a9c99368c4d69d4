//! Fenced code blocks of a Markdown document, which of them run, and the substitutions that
//! let them run against the test's own binaries (the convention is in tests/README.md).

/// Languages whose blocks run, unless a tag says otherwise.
const SHELLS: [&str; 3] = ["sh", "bash", "shell"];
/// Tags that keep a shell block from running: it needs an Azure subscription, or it runs until
/// stopped or is the test suite itself (the text around it says which).
const SKIP_TAGS: [&str; 2] = ["azure", "norun"];

#[derive(Debug)]
pub struct Block {
    pub file: String,
    /// Line of the opening fence, from 1.
    pub line: usize,
    pub runs: bool,
    pub text: String,
}

/// Every fenced block of `markdown` (backtick fences, possibly indented in a list), with
/// whether it runs. An unknown tag on a shell block is an error: a misspelt tag must not
/// silently keep a block from running.
pub fn blocks(file: &str, markdown: &str) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    let mut open: Option<(usize, bool, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let mut words = info.split_whitespace();
                    let lang = words.next().unwrap_or("");
                    let tag = words.next();
                    let shell = SHELLS.contains(&lang);
                    if shell
                        && let Some(tag) = tag
                        && !SKIP_TAGS.contains(&tag)
                    {
                        return Err(format!("{file}:{}: unknown tag {tag:?} (known: {SKIP_TAGS:?})", i + 1));
                    }
                    open = Some((i + 1, shell && tag.is_none(), String::new()));
                }
            }
            Some((start, runs, text)) => {
                if trimmed.starts_with("```") {
                    out.push(Block { file: file.into(), line: *start, runs: *runs, text: std::mem::take(text) });
                    open = None;
                } else {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    match open {
        Some((start, ..)) => Err(format!("{file}:{start}: code block never closed")),
        None => Ok(out),
    }
}

/// The block as the test runs it: `cargo run ... --` and `target/{release,debug}/flowlog`
/// become `bin`, and `cargo build` lines are dropped (the binary exists). Any other cargo
/// command is an error: the test does not build.
pub fn substitute(block: &str, bin: &str) -> Result<String, String> {
    const MARK: &str = "\u{1}flowlog\u{1}";
    assert!(!bin.contains(char::is_whitespace), "binary path with whitespace: {bin}");
    let mut out = String::new();
    for line in block.lines() {
        if line.trim_start().starts_with("cargo build") {
            out.push_str("# skipped by the docs test: ");
            out.push_str(line);
            out.push('\n');
            continue;
        }
        // A mark first, the binary last: its own path may contain `target/debug/flowlog`.
        let mut line = line.replace("target/release/flowlog", MARK).replace("target/debug/flowlog", MARK);
        if let Some(start) = line.find("cargo run") {
            let rest = &line[start..];
            let end = match rest.find(" -- ") {
                Some(sep) => start + sep + " -- ".len(),
                None if rest.trim_end().ends_with(" --") => line.len(),
                None => return Err(format!("`cargo run` without `--` before flowlog's arguments: {line}")),
            };
            line.replace_range(start..end, &format!("{MARK} "));
        }
        if line.split_whitespace().next() == Some("cargo") || line.contains("&& cargo ") {
            return Err(format!("runs cargo (only `cargo run ... --` and `cargo build` are substituted): {line}"));
        }
        out.push_str(&line.replace(MARK, bin));
        out.push('\n');
    }
    Ok(out)
}

/// Repository paths a document names as inline code outside code blocks (`src/...`,
/// `tests/...`, `docs/...`, `deploy/...`, `bench/...`, `samples/...`), patterns and
/// placeholders left out.
pub fn named_paths(markdown: &str) -> Vec<&str> {
    const ROOTS: [&str; 6] = ["src/", "tests/", "docs/", "deploy/", "bench/", "samples/"];
    let mut out = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        out.extend(
            inline_code(line)
                .into_iter()
                .filter(|s| ROOTS.iter().any(|r| s.starts_with(r)))
                .filter(|s| !s.contains("...") && !s.contains(|c: char| c.is_whitespace() || "*<>…{}$".contains(c)))
                .map(|s| s.split(':').next().unwrap()),
        );
    }
    out
}

/// The code spans of one line: text between a run of backticks and the next run as long.
fn inline_code(line: &str) -> Vec<&str> {
    let bytes = line.as_bytes();
    let run_at = |i: usize| bytes[i..].iter().take_while(|&&b| b == b'`').count();
    let (mut spans, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        if bytes[i] != b'`' {
            i += 1;
            continue;
        }
        let n = run_at(i);
        let start = i + n;
        let mut j = start;
        let close = loop {
            match bytes[j..].iter().position(|&b| b == b'`') {
                None => break None,
                Some(k) if run_at(j + k) == n => break Some(j + k),
                Some(k) => j += k + run_at(j + k),
            }
        };
        match close {
            Some(end) => {
                spans.push(line[start..end].trim());
                i = end + n;
            }
            None => i = start,
        }
    }
    spans
}

#[test]
fn only_untagged_shell_blocks_run() {
    let md = "# t\n```sh\necho a\n```\n```sh azure\naz login\n```\n```text\nx\n```\n  ```bash\n  echo b\n  ```\n```sh norun\nbash tests/run\n```\n";
    let found = blocks("t.md", md).unwrap();
    let runs: Vec<(usize, bool)> = found.iter().map(|b| (b.line, b.runs)).collect();
    assert_eq!(runs, [(2, true), (5, false), (8, false), (11, true), (14, false)]);
    assert_eq!(found[0].text, "echo a\n");
    assert_eq!(found[3].text, "  echo b\n");
    let err = blocks("t.md", "```sh azrue\naz login\n```\n").unwrap_err();
    assert!(err.contains("t.md:1") && err.contains("azrue"), "{err}");
    assert!(blocks("t.md", "```sh\necho\n").unwrap_err().contains("never closed"));
}

#[test]
fn binaries_are_substituted_and_builds_dropped() {
    let block = "cargo build --release\ncargo run --release --no-default-features -- run --once   # demo\ntarget/release/flowlog schema\nX=1 target/debug/flowlog run &\n";
    let got = substitute(block, "/b/flowlog").unwrap();
    let own = substitute("target/release/flowlog x\ncargo run -- y\n", "/t/target/debug/flowlog").unwrap();
    assert_eq!(own, "/t/target/debug/flowlog x\n/t/target/debug/flowlog y\n");
    assert_eq!(
        got,
        "# skipped by the docs test: cargo build --release\n/b/flowlog run --once   # demo\n/b/flowlog schema\nX=1 /b/flowlog run &\n"
    );
    assert!(substitute("cargo nextest run\n", "/b/f").unwrap_err().contains("runs cargo"));
    assert!(substitute("cargo run --release\n", "/b/f").unwrap_err().contains("without `--`"));
}

#[test]
fn named_paths_are_backticked_repository_paths() {
    let md = "see `src/a.rs`, `tests/x/` and `samples/*.json`, not `src/...`, `cargo run` or src/b.rs; `docs/A.md:12`\n\
              ```sh\nls `src/in_block.rs`\n```\nuse ```` ```sh azure ```` then `bench/b.sh`\n";
    assert_eq!(named_paths(md), ["src/a.rs", "tests/x/", "docs/A.md", "bench/b.sh"]);
}
