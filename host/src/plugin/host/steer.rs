//! `steer`: update the goal.

use arena_bindings::agent::arena::core::steer;

use super::{HandleResult, PluginState};

impl steer::Host for PluginState {
    fn update_goal(&mut self, goal: String) -> HandleResult<()> {
        self.write("update-goal", &[&goal], |h| h.update_goal(&goal))
    }
}
