//! CPU-heavy steps (flattening a large slice of a blob, compressing an output event) run beside
//! the runtime's worker instead of on it.
//!
//! The daemon's runtime has one worker thread: a quiet drain is requests and wake-ups, and a
//! second worker mostly woke up to find nothing to steal (a context switch each way). A step
//! over at least [`HEAVY_BYTES`] hands the worker's scheduler to another thread for its
//! duration (`tokio::task::block_in_place`), so busy blobs still flatten on several cores while
//! requests go on. Elsewhere (a current-thread runtime, as in tests, or no runtime) the step
//! just runs.
use tokio::runtime::{Handle, RuntimeFlavor};

/// Input bytes from which a step is worth a hand-over (a few microseconds): about 100 µs of
/// flattening. A quiet blob's append (a few kilobytes) stays on the worker.
pub const HEAVY_BYTES: usize = 32 * 1024;

/// Runs `step`, which works through `bytes` bytes, beside the worker when it is heavy.
pub fn run<T>(bytes: usize, step: impl FnOnce() -> T) -> T {
    if bytes >= HEAVY_BYTES && Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
        tokio::task::block_in_place(step)
    } else {
        step()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_steps_and_steps_outside_a_multi_thread_runtime_run_in_place() {
        let here = std::thread::current().id();
        assert_eq!(run(HEAVY_BYTES, || std::thread::current().id()), here, "no runtime");
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(rt.block_on(async { run(HEAVY_BYTES, || 7) }), 7, "current-thread: no panic");
    }

    #[test]
    fn a_heavy_step_leaves_the_worker_free_for_other_tasks() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            // The heavy step waits for a task spawned after it started: with one worker, that
            // task runs only if the step handed the worker's scheduler over.
            let step = tokio::spawn(async move {
                run(HEAVY_BYTES, || rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok())
            });
            tokio::task::yield_now().await;
            let other = tokio::spawn(async move { tx.send(()).unwrap() });
            assert!(step.await.unwrap(), "the other task ran while the step was running");
            other.await.unwrap();
        });
    }
}
