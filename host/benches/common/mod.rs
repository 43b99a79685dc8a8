//! What the benchmarks share: the arena they measure, in both type worlds, and the timing loop.

use std::time::Instant;

use arena_host::types::{ArenaConfig, ParticipantSpec, Role, Strategy};

/// Coordinator `lead` and worker `w` on `steps` steps, for the component path.
pub fn component_config(steps: u32) -> ArenaConfig {
    let spec = |agent: &str, role| ParticipantSpec {
        agent: agent.into(),
        role,
        permissions: None,
    };
    ArenaConfig {
        goal: "measure".into(),
        total_steps: steps,
        strategy: Strategy::Peer("lead".into()),
        participants: vec![spec("lead", Role::Coordinator), spec("w", Role::Worker)],
        created_by: "bench".into(),
    }
}

/// The same arena for the native domain code.
pub fn native_config(steps: u32) -> arena_component::ArenaConfig {
    let spec = |agent: &str, role| arena_component::ParticipantSpec {
        agent: agent.into(),
        role,
        permissions: None,
    };
    arena_component::ArenaConfig {
        goal: "measure".into(),
        total_steps: steps,
        strategy: arena_component::Strategy::Peer("lead".into()),
        participants: vec![
            spec("lead", arena_component::Role::Coordinator),
            spec("w", arena_component::Role::Worker),
        ],
        created_by: "bench".into(),
    }
}

/// Median over `batches` batches of the mean time per operation, in microseconds.
pub fn measure(batches: usize, per_batch: usize, mut op: impl FnMut()) -> f64 {
    let mut means: Vec<f64> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                op();
            }
            start.elapsed().as_secs_f64() * 1e6 / per_batch as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    means[batches / 2]
}
