//! The shared progress of an arena: which steps are done, and each agent's share.
//!
//! Counters saturate at `u32::MAX`; they never wrap and never panic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::AgentId;

/// One agent's share of the work.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProgress {
    /// Steps this agent completed.
    pub steps_completed: u32,
    /// Its last progress note.
    pub note: Option<String>,
}

/// The shared progress of an arena.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Distinct steps completed.
    pub completed_steps: u32,
    /// Steps in the goal.
    pub total_steps: u32,
    /// Completed steps as disjoint, non-adjacent inclusive ranges, keyed by their first step: compact
    /// for the common case of steps done roughly in order.
    done: BTreeMap<u32, u32>,
    /// Progress of every agent that ever participated.
    pub progress: BTreeMap<AgentId, AgentProgress>,
}

impl Aggregate {
    /// An aggregate with nothing done.
    pub fn new(total_steps: u32) -> Self {
        Aggregate {
            completed_steps: 0,
            total_steps,
            done: BTreeMap::new(),
            progress: BTreeMap::new(),
        }
    }

    /// Whether `step` is already complete.
    pub fn is_done(&self, step: u32) -> bool {
        self.done
            .range(..=step)
            .next_back()
            .is_some_and(|(_, &end)| step <= end)
    }

    /// Records `step` as completed by `agent`. Returns `false`, changing nothing, if it already was.
    pub fn complete(&mut self, step: u32, agent: &str) -> bool {
        if self.is_done(step) {
            return false;
        }
        let mut start = step;
        let mut end = step;
        if let Some((&prev_start, &prev_end)) = self.done.range(..step).next_back()
            && prev_end.checked_add(1) == Some(step)
        {
            start = prev_start;
        }
        if let Some(next) = step.checked_add(1)
            && let Some(next_end) = self.done.remove(&next)
        {
            end = next_end;
        }
        self.done.insert(start, end);
        self.completed_steps = self.completed_steps.saturating_add(1);
        let progress = self.progress.entry(agent.to_string()).or_default();
        progress.steps_completed = progress.steps_completed.saturating_add(1);
        true
    }

    /// Records `agent`'s latest progress note.
    pub fn note(&mut self, agent: &str, note: &str) {
        self.progress.entry(agent.to_string()).or_default().note = Some(note.to_string());
    }

    /// Makes sure `agent` has a progress entry (from the moment it joins).
    pub fn enrol(&mut self, agent: &str) {
        self.progress.entry(agent.to_string()).or_default();
    }

    /// The completed steps, in order.
    pub fn done_steps(&self) -> impl Iterator<Item = u32> + '_ {
        self.done.iter().flat_map(|(&start, &end)| start..=end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completing_a_step_twice_changes_nothing() {
        let mut a = Aggregate::new(10);
        assert!(a.complete(3, "w"));
        assert!(!a.complete(3, "w"));
        assert_eq!(a.completed_steps, 1);
        assert_eq!(a.progress["w"].steps_completed, 1);
    }

    #[test]
    fn adjacent_steps_merge_into_one_range() {
        let mut a = Aggregate::new(10);
        for step in [1, 3, 2, 5, 4] {
            assert!(a.complete(step, "w"));
        }
        assert_eq!(a.done.len(), 1);
        assert_eq!(a.done_steps().collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        assert!(a.is_done(4));
        assert!(!a.is_done(6));
    }

    #[test]
    fn gaps_stay_separate_ranges() {
        let mut a = Aggregate::new(10);
        a.complete(1, "a");
        a.complete(9, "b");
        assert!(!a.is_done(5));
        assert_eq!(a.done_steps().collect::<Vec<_>>(), vec![1, 9]);
        assert_eq!(a.progress["a"].steps_completed, 1);
        assert_eq!(a.progress["b"].steps_completed, 1);
    }

    #[test]
    fn steps_at_the_top_of_u32_do_not_overflow() {
        let mut a = Aggregate::new(u32::MAX);
        assert!(a.complete(u32::MAX, "w"));
        assert!(a.complete(u32::MAX - 1, "w"));
        assert!(a.is_done(u32::MAX));
        assert_eq!(a.done.len(), 1);
    }

    #[test]
    fn counters_saturate_at_u32_max() {
        let mut a = Aggregate::new(u32::MAX);
        a.completed_steps = u32::MAX;
        a.progress.insert(
            "w".into(),
            AgentProgress {
                steps_completed: u32::MAX,
                note: None,
            },
        );
        assert!(a.complete(7, "w"));
        assert_eq!(a.completed_steps, u32::MAX);
        assert_eq!(a.progress["w"].steps_completed, u32::MAX);
    }
}
