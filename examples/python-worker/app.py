"""A worker plugin in Python (componentize-py, world `agent-worker`): each turn it completes the next
step nobody has done yet, remembering where it got to between turns."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import contribute, observe, types


class Plugin(exports.Plugin):
    next_step = 1

    def turn(self, turn: int) -> str:
        status = observe.status()
        if status != types.ArenaStatus.ACTIVE:
            return f"waiting: the arena is {status.name.lower()}"
        total = observe.progress().total_steps
        step = Plugin.next_step
        while step <= total:
            try:
                aggregate = contribute.complete_step(step)
            except Err as refused:
                if isinstance(refused.value, types.ArenaError_AlreadyDone):
                    step += 1
                    continue
                raise Err(f"completing step {step}: {refused.value}")
            Plugin.next_step = step + 1
            return f"completed step {step} ({aggregate.completed_steps}/{aggregate.total_steps}) in Python"
        Plugin.next_step = step
        return "no open step left"
