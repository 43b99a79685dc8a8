"""A worker plugin in Python (componentize-py, world `agent-worker`): each turn it completes the next
step nobody has done yet, remembering where it got to between turns, and reports its progress. The
note it reports can be set with the optional `note` key of its manifest entry's `[plugin.config]`,
read through wasi:config/store."""

from typing import Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import contribute, observe, store, types


def configured_note() -> Optional[str]:
    """The `note` config value, or None when it is absent, blank or the store fails."""
    try:
        note = store.get("note")
    except Err:
        return None
    if note is None or not note.strip():
        return None
    return note.strip()


class Plugin(exports.Plugin):
    next_step = 1
    note: Optional[str] = None
    note_read = False

    def turn(self, turn: int) -> str:
        status = observe.status()
        if status != types.ArenaStatus.ACTIVE:
            return f"waiting: the arena is {status.name.lower()}"
        if not Plugin.note_read:
            Plugin.note = configured_note()
            Plugin.note_read = True
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
            note = f"{Plugin.note} (step {step})" if Plugin.note else f"finished step {step}"
            try:
                contribute.report_progress(note)
            except Err:
                pass  # the note is a courtesy; the step is done either way
            return f"completed step {step} ({aggregate.completed_steps}/{aggregate.total_steps}) in Python"
        Plugin.next_step = step
        return "no open step left"
