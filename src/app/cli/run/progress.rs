//! `backfill` progress: a bar on a terminal, cleared when done so the summary line stands alone;
//! a log line every 5 % (and at the end) otherwise.
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The reporter for this process's stderr.
pub fn reporter() -> impl Fn(u64, u64) + Send + Sync + 'static {
    let target = std::io::stderr().is_terminal().then(ProgressDrawTarget::stderr);
    reporter_to(target)
}

/// `Some(target)`: a bar drawn there; `None`: log lines.
fn reporter_to(target: Option<ProgressDrawTarget>) -> impl Fn(u64, u64) + Send + Sync + 'static {
    let bar = target.map(|target| {
        let bar = ProgressBar::with_draw_target(Some(0), target);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} blobs {elapsed_precise} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let last_logged = AtomicU64::new(0);
    move |done, total| match &bar {
        Some(bar) => {
            bar.set_length(total);
            bar.set_position(done);
            if done >= total {
                // The summary is logged next; a finished bar left above it is only noise.
                bar.finish_and_clear();
            }
        }
        None => {
            let step = (total / 20).max(1);
            let prev = last_logged.load(Ordering::Relaxed);
            if done >= total || done >= prev + step {
                last_logged.store(done, Ordering::Relaxed);
                tracing::info!(done, total, "backfill progress");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;

    /// A terminal screen: lines of text and a cursor, as the bar's escape codes leave them.
    #[derive(Debug, Default)]
    struct Screen {
        lines: Vec<Vec<char>>,
        row: usize,
        col: usize,
    }

    #[derive(Debug, Clone, Default)]
    struct Term(Arc<Mutex<Screen>>);

    impl Term {
        fn with<T>(&self, f: impl FnOnce(&mut Screen) -> T) -> T {
            f(&mut self.0.lock().unwrap())
        }
        fn visible(&self) -> String {
            let lines = self.with(|s| s.lines.iter().map(|l| l.iter().collect::<String>()).collect::<Vec<_>>());
            lines.iter().map(|l| l.trim_end()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
        }
    }

    impl TermLike for Term {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            self.with(|s| s.row = s.row.saturating_sub(n));
            Ok(())
        }
        fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
            self.with(|s| s.row += n);
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, line: &str) -> std::io::Result<()> {
            self.write_str(line)?;
            self.with(|s| (s.row, s.col) = (s.row + 1, 0));
            Ok(())
        }
        fn write_str(&self, text: &str) -> std::io::Result<()> {
            self.with(|s| {
                for (i, part) in text.split('\r').enumerate() {
                    if i > 0 {
                        s.col = 0;
                    }
                    while s.lines.len() <= s.row {
                        s.lines.push(Vec::new());
                    }
                    for c in part.chars() {
                        let (row, col) = (s.row, s.col);
                        let line = &mut s.lines[row];
                        if col < line.len() {
                            line[col] = c;
                        } else {
                            line.push(c);
                        }
                        s.col += 1;
                    }
                }
            });
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.with(|s| {
                if let Some(line) = s.lines.get_mut(s.row) {
                    line.clear();
                }
                s.col = 0;
            });
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_bar_is_drawn_while_running_and_gone_when_done() {
        let term = Term::default();
        let report = reporter_to(Some(ProgressDrawTarget::term_like(Box::new(term.clone()))));
        report(1, 2);
        let drawn = term.visible();
        assert!(drawn.contains("1/2 blobs"), "{drawn:?}");
        report(2, 2);
        assert_eq!(term.visible(), "", "the last frame is cleared");
    }
}
