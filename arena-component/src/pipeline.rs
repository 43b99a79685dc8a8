//! The pipeline strategy: stages that own steps and wait for the stages they depend on.
//!
//! A pipeline is validated once, when its arena is created; afterwards the arena enforces its order:
//! a stage may complete its steps, or mark its slot `done`, only once every stage it depends on is done.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::types::{AgentId, Arena, ArenaError, Permission, SlotStatus, check_count, limits};

/// An inclusive range of steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRange {
    /// The first step of the range.
    pub first: u32,
    /// The last step of the range, included.
    pub last: u32,
}

/// One stage: its agent, the steps it owns and the stages it waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Stage {
    /// The participant who runs the stage.
    pub agent: AgentId,
    /// The steps the stage owns.
    pub steps: Vec<StepRange>,
    /// The stages (by agent) that must be done before this one may finish.
    pub depends_on: Vec<AgentId>,
}

/// Stages under a coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    /// The participant who coordinates the pipeline.
    pub coordinator: AgentId,
    /// The stages, in declaration order.
    pub stages: Vec<Stage>,
}

fn invalid(message: String) -> ArenaError {
    ArenaError::InvalidInput(message)
}

impl Pipeline {
    /// Checks the pipeline of a new arena of `total_steps` steps whose declared participants hold
    /// `permissions`: distinct stages of participants who may contribute, dependencies on known stages
    /// without cycles, and every step owned by exactly one stage.
    pub fn validate(
        &self,
        total_steps: u32,
        permissions: &BTreeMap<&str, &[Permission]>,
    ) -> Result<(), ArenaError> {
        if self.stages.is_empty() {
            return Err(invalid("a pipeline needs at least one stage".into()));
        }
        check_count("pipeline stages", self.stages.len(), limits::STAGES)?;
        let mut names = BTreeSet::new();
        for stage in &self.stages {
            match permissions.get(stage.agent.as_str()) {
                None => {
                    return Err(invalid(format!(
                        "stage {:?} is not a declared participant",
                        stage.agent
                    )));
                }
                Some(granted) if !granted.contains(&Permission::Contribute) => {
                    return Err(invalid(format!(
                        "stage {:?} does not hold contribute",
                        stage.agent
                    )));
                }
                Some(_) => {}
            }
            if !names.insert(stage.agent.as_str()) {
                return Err(invalid(format!("duplicate stage {:?}", stage.agent)));
            }
        }
        for stage in &self.stages {
            let mut seen = BTreeSet::new();
            for dep in &stage.depends_on {
                if !names.contains(dep.as_str()) {
                    return Err(invalid(format!(
                        "stage {:?} depends on {dep:?}, which is not a stage",
                        stage.agent
                    )));
                }
                if !seen.insert(dep) {
                    return Err(invalid(format!(
                        "stage {:?} names {dep:?} twice in depends-on",
                        stage.agent
                    )));
                }
            }
        }
        if let Some(cycle) = self.cycle() {
            return Err(invalid(format!(
                "the stages depend on each other in a cycle: {}",
                cycle.join(" → ")
            )));
        }
        self.check_ownership(total_steps)
    }

    /// A dependency cycle, as the stages along it (the first repeated at the end), if there is one.
    fn cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let index: BTreeMap<&str, usize> = self
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.agent.as_str(), i))
            .collect();
        let mut marks = vec![Mark::New; self.stages.len()];
        // Iterative depth-first search: (stage, next dependency to visit).
        for root in 0..self.stages.len() {
            if marks[root] != Mark::New {
                continue;
            }
            let mut path: Vec<(usize, usize)> = vec![(root, 0)];
            marks[root] = Mark::OnPath;
            while let Some((node, next)) = path.last_mut() {
                let deps = &self.stages[*node].depends_on;
                if *next == deps.len() {
                    marks[*node] = Mark::Done;
                    path.pop();
                    continue;
                }
                let dep = index[deps[*next].as_str()];
                *next += 1;
                match marks[dep] {
                    Mark::Done => {}
                    Mark::New => {
                        marks[dep] = Mark::OnPath;
                        path.push((dep, 0));
                    }
                    Mark::OnPath => {
                        let start = path.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                        let mut cycle: Vec<String> = path[start..]
                            .iter()
                            .map(|(n, _)| self.stages[*n].agent.clone())
                            .collect();
                        cycle.push(self.stages[dep].agent.clone());
                        return Some(cycle);
                    }
                }
            }
        }
        None
    }

    fn check_ownership(&self, total_steps: u32) -> Result<(), ArenaError> {
        let mut ranges = Vec::new();
        for stage in &self.stages {
            check_count(
                "step ranges per stage",
                stage.steps.len(),
                limits::STAGE_RANGES,
            )?;
            for range in &stage.steps {
                if range.first == 0 || range.first > range.last || range.last > total_steps {
                    return Err(invalid(format!(
                        "stage {:?}: steps {}-{} are not a range within 1..={total_steps}",
                        stage.agent, range.first, range.last
                    )));
                }
                ranges.push((range.first, range.last, stage.agent.as_str()));
            }
        }
        ranges.sort();
        let mut next = 1u32;
        let mut previous: Option<&str> = None;
        for (first, last, agent) in ranges {
            if first < next {
                return Err(invalid(format!(
                    "step {first} is owned by both stage {:?} and stage {agent:?}",
                    previous.unwrap_or_default()
                )));
            }
            if first > next {
                return Err(invalid(format!("step {next} is owned by no stage")));
            }
            next = last.saturating_add(1);
            previous = Some(agent);
        }
        if u64::from(next) <= u64::from(total_steps) {
            return Err(invalid(format!("step {next} is owned by no stage")));
        }
        Ok(())
    }

    /// The stage of `agent`, if it works one.
    pub fn stage(&self, agent: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.agent == agent)
    }

    /// The stage owning `step`.
    pub fn owner(&self, step: u32) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|s| s.steps.iter().any(|r| (r.first..=r.last).contains(&step)))
    }

    /// `invalid-state` naming the first stage `stage` depends on that is not done yet; `doing` says
    /// what was attempted.
    pub fn require_ready(
        &self,
        arena: &Arena,
        stage: &Stage,
        doing: &str,
    ) -> Result<(), ArenaError> {
        for dep in &stage.depends_on {
            let done = arena
                .slots
                .get(dep)
                .is_some_and(|slot| slot.status == SlotStatus::Done);
            if !done {
                return Err(ArenaError::InvalidState(format!(
                    "stage {:?} cannot {doing}: stage {dep:?} it depends on is not done",
                    stage.agent
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(agent: &str, steps: &[(u32, u32)], deps: &[&str]) -> Stage {
        Stage {
            agent: agent.into(),
            steps: steps
                .iter()
                .map(|&(first, last)| StepRange { first, last })
                .collect(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn check(stages: Vec<Stage>, total: u32) -> Result<(), ArenaError> {
        let all = Permission::ALL.as_slice();
        let permissions: BTreeMap<&str, &[Permission]> =
            ["a", "b", "c"].into_iter().map(|a| (a, all)).collect();
        Pipeline {
            coordinator: "a".into(),
            stages,
        }
        .validate(total, &permissions)
    }

    fn message(result: Result<(), ArenaError>) -> String {
        match result {
            Err(ArenaError::InvalidInput(m)) => m,
            other => panic!("expected invalid-input, got {other:?}"),
        }
    }

    #[test]
    fn a_chain_of_stages_owning_every_step_once_is_valid() {
        let stages = vec![
            stage("a", &[(1, 2)], &[]),
            stage("b", &[(3, 3), (5, 5)], &["a"]),
            stage("c", &[(4, 4)], &["a", "b"]),
        ];
        assert_eq!(check(stages, 5), Ok(()));
    }

    #[test]
    fn cycles_are_named() {
        let stages = vec![
            stage("a", &[(1, 1)], &["c"]),
            stage("b", &[(2, 2)], &["a"]),
            stage("c", &[(3, 3)], &["b"]),
        ];
        let m = message(check(stages, 3));
        assert!(m.contains("cycle") && m.contains("a → c → b → a"), "{m}");
        let m = message(check(vec![stage("a", &[(1, 1)], &["a"])], 1));
        assert!(m.contains("a → a"), "{m}");
    }

    #[test]
    fn ownership_must_be_exact() {
        let m = message(check(
            vec![stage("a", &[(1, 2)], &[]), stage("b", &[(2, 3)], &[])],
            3,
        ));
        assert!(m.contains("step 2 is owned by both"), "{m}");
        let m = message(check(
            vec![stage("a", &[(1, 1)], &[]), stage("b", &[(3, 3)], &[])],
            3,
        ));
        assert!(m.contains("step 2 is owned by no stage"), "{m}");
        let m = message(check(vec![stage("a", &[(1, 2)], &[])], 3));
        assert!(m.contains("step 3 is owned by no stage"), "{m}");
        let m = message(check(vec![stage("a", &[(1, 4)], &[])], 3));
        assert!(m.contains("not a range"), "{m}");
    }

    #[test]
    fn unknown_and_duplicate_stages_are_refused() {
        let m = message(check(vec![stage("z", &[(1, 1)], &[])], 1));
        assert!(m.contains("not a declared participant"), "{m}");
        let m = message(check(
            vec![stage("a", &[(1, 1)], &[]), stage("a", &[(2, 2)], &[])],
            2,
        ));
        assert!(m.contains("duplicate stage"), "{m}");
        let m = message(check(vec![stage("a", &[(1, 1)], &["q"])], 1));
        assert!(m.contains("not a stage"), "{m}");
    }
}
