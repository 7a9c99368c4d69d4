//! The reasons of one dead letter's bad input with their counts, as its error text states them:
//! bad records and bad tuples of one read share this tally.
use std::collections::BTreeMap;

/// Reasons and how often each was seen; a reason new past the cap counts as "other reasons".
#[derive(Default)]
pub struct ReasonTally {
    counts: BTreeMap<String, u64>,
    other: u64,
}

impl ReasonTally {
    /// Counts `n` more of `reason`, keeping at most `cap` distinct reasons.
    pub fn add(&mut self, reason: String, n: u64, cap: usize) {
        let room = self.counts.len() < cap;
        match self.counts.get_mut(&reason) {
            Some(count) => *count += n,
            None if room => {
                self.counts.insert(reason, n);
            }
            None => self.other += n,
        }
    }

    /// Adds everything `other` counted.
    pub fn merge(&mut self, other: ReasonTally, cap: usize) {
        for (reason, n) in other.counts {
            self.add(reason, n, cap);
        }
        self.other += other.other;
    }

    /// `reason (n); ...`: the most frequent first (ties by name), "other reasons" last.
    pub fn text(self) -> String {
        let mut reasons: Vec<(String, u64)> = self.counts.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        if self.other > 0 {
            reasons.push(("other reasons".into(), self.other));
        }
        reasons.iter().map(|(r, n)| format!("{r} ({n})")).collect::<Vec<_>>().join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_frequent_first_and_the_rest_past_the_cap_together() {
        let mut tally = ReasonTally::default();
        for (reason, n) in [("b", 1), ("a", 1), ("c", 3), ("d", 2), ("e", 5)] {
            tally.add(reason.into(), n, 3);
        }
        tally.add("a".into(), 1, 3);
        let mut more = ReasonTally::default();
        more.add("b".into(), 4, usize::MAX);
        more.add("f".into(), 1, usize::MAX);
        tally.merge(more, 3);
        assert_eq!(tally.text(), "b (5); c (3); a (2); other reasons (8)");
    }
}
