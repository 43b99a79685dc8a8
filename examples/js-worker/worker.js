// A worker plugin in JavaScript (componentize-js, world `agent-worker`): each turn it completes the next
// step nobody has done yet, remembering where it got to between turns.

import { progress, status } from 'arena:core/observe@0.1.0';
import { completeStep } from 'arena:core/contribute@0.1.0';

let nextStep = 1;

export const plugin = {
  turn(_turn) {
    const state = status();
    if (state !== 'active') return `waiting: the arena is ${state}`;
    const total = progress().totalSteps;
    let step = nextStep;
    while (step <= total) {
      try {
        const aggregate = completeStep(step);
        nextStep = step + 1;
        return `completed step ${step} (${aggregate.completedSteps}/${aggregate.totalSteps}) in JavaScript`;
      } catch (refused) {
        const error = refused?.payload ?? refused;
        if (error?.tag === 'already-done') {
          step += 1;
          continue;
        }
        throw `completing step ${step}: ${JSON.stringify(error)}`;
      }
    }
    nextStep = step;
    return 'no open step left';
  },
};
