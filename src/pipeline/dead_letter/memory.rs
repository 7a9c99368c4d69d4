//! In-memory dead-letter store for unit tests.
use std::sync::Mutex;

use super::{DeadLetter, DeadLetterStore};
use crate::pipeline::error::ServiceResult;

#[derive(Default)]
pub struct MemoryDeadLetters {
    letters: Mutex<Vec<DeadLetter>>,
}

impl MemoryDeadLetters {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn letters(&self) -> Vec<DeadLetter> {
        self.letters.lock().unwrap().clone()
    }
}

impl DeadLetterStore for MemoryDeadLetters {
    async fn put(&self, letter: &DeadLetter) -> ServiceResult<()> {
        self.letters.lock().unwrap().push(letter.clone());
        Ok(())
    }
}
