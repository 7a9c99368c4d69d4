//! Tests of the NDJSON file sink: torn-tail repair, appending, refusal of partial lines, exclusive use.
use super::*;
use crate::domain::blob_name::BlobName;

fn batch<'a>(blob: &'a BlobName, ndjson: &'a [u8]) -> RowBatch<'a> {
    RowBatch::new(blob, ndjson.to_vec(), ndjson.iter().filter(|&&b| b == b'\n').count())
}

fn parse_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "file ends mid-line: {text:?}");
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}"))).collect()
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_appends_follow_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.ndjson");
    std::fs::write(&path, b"{\"id\":1}\n{\"id\":2}\n{\"id\":3,\"flo").unwrap();
    let sink = NdjsonFileSink::open_file(&path).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"id\":1}\n{\"id\":2}\n");
    let blob = BlobName::from("a/PT1H.json");
    sink.send(batch(&blob, b"{\"id\":3}\n{\"id\":4}\n")).await.unwrap();
    sink.send(batch(&blob, b"{\"id\":5}\n")).await.unwrap();
    let ids: Vec<_> = parse_lines(&path).iter().map(|v| v["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    drop(sink);
    // Reopening an intact file changes nothing, and appends go after what is there.
    let sink = NdjsonFileSink::open_file(&path).await.unwrap();
    sink.send(batch(&blob, b"{\"id\":6}\n")).await.unwrap();
    assert_eq!(parse_lines(&path).len(), 6);
}

#[tokio::test]
async fn a_torn_line_longer_than_the_repair_window_is_cut_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.ndjson");
    let mut content = b"{\"id\":1}\n{\"id\":\"".to_vec();
    content.extend(std::iter::repeat_n(b'x', REPAIR_WINDOW * 2 + 17));
    std::fs::write(&path, &content).unwrap();
    NdjsonFileSink::open_file(&path).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"id\":1}\n");
    // A file that is one torn line is emptied.
    let only = dir.path().join("only.ndjson");
    std::fs::write(&only, b"{\"id\":").unwrap();
    NdjsonFileSink::open_file(&only).await.unwrap();
    assert_eq!(std::fs::metadata(&only).unwrap().len(), 0);
}

#[tokio::test]
async fn a_new_file_is_created_and_partial_lines_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.ndjson");
    let sink = NdjsonFileSink::open_file(&path).await.unwrap();
    assert_eq!(sink.path().as_deref(), Some(path.as_path()));
    let blob = BlobName::from("b/PT1H.json");
    sink.send(batch(&blob, b"")).await.unwrap();
    let err = sink.send(batch(&blob, b"{\"id\":1}\n{\"id\":2}")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    sink.send(batch(&blob, b"{\"id\":1}\n")).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"id\":1}\n");
}

#[tokio::test]
async fn a_file_flowlog_did_not_write_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    for content in [&b"a user's notes, no newline"[..], b"line one\nline two\n", b"{\"id\":1}\nnot a row, torn"] {
        let path = dir.path().join("theirs.txt");
        std::fs::write(&path, content).unwrap();
        let err = NdjsonFileSink::open_file(&path).await.err().expect("refused");
        assert!(err.message.contains("not written by flowlog"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), content, "untouched");
    }
}

#[tokio::test]
async fn pipes_and_devices_are_written_without_sync() {
    let sink = NdjsonFileSink::open_file("/dev/null").await.unwrap();
    let blob = BlobName::from("a/PT1H.json");
    sink.send(batch(&blob, b"{\"id\":1}\n")).await.unwrap();
    assert!(!sink.output_closed());
}

#[tokio::test]
async fn a_second_writer_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.ndjson");
    let _sink = NdjsonFileSink::open_file(&path).await.unwrap();
    let err = NdjsonFileSink::open_file(&path).await.err().expect("locked");
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains("rows.ndjson"), "{err}");
}

#[tokio::test]
async fn a_missing_directory_is_an_error_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/rows.ndjson");
    let err = NdjsonFileSink::open_file(&path).await.err().expect("cannot create");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains("no/such/dir"), "{err}");
}

/// A stdout whose reader went away after `accept` bytes.
struct ClosedPipe {
    accept: usize,
    written: Vec<u8>,
}

impl Write for ClosedPipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written.len() >= self.accept {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let n = buf.len().min(self.accept - self.written.len());
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_broken_stdout_pipe_is_permanent() {
    let mut pipe = ClosedPipe { accept: 100, written: Vec::new() };
    write_stream(&mut pipe, &[Bytes::from_static(b"{\"id\":1}\n")]).unwrap();
    assert_eq!(pipe.written, b"{\"id\":1}\n");
    let err = write_stream(&mut pipe, &[Bytes::from(vec![b'x'; 200])]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent, "{err}");
}

#[test]
fn after_a_failed_write_the_partial_batch_is_cut_before_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.ndjson");
    let mut output = open_and_repair(path.clone()).unwrap();
    output.append(&[Bytes::from_static(b"{\"id\":1}\n")]).unwrap();
    // What a write that failed half-way (disk full) and could not be cut back leaves behind.
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"id\":2,\"fl").unwrap();
    output.needs_cut = true;
    output.append(&[Bytes::from_static(b"{\"id\":2}\n")]).unwrap();
    let ids: Vec<_> = parse_lines(&path).iter().map(|v| v["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2]);
}
