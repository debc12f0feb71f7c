/**
 * Waits until a timer with period `periodMs`, started now, has fired `turns`
 * times. Node fires timers of one period in the order they fall due, so every
 * timer of that period started earlier (a WAL's fdatasync interval, a
 * maintenance timer) has had at least `turns` turns by then, however loaded
 * the machine: a wait for the code's own timer, not a sleep it may outlast.
 */
export function timerTurns(periodMs: number, turns: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const timer = setInterval(() => {
      if (++seen < turns) return;
      clearInterval(timer);
      resolve();
    }, periodMs);
  });
}

/**
 * Waits for `condition` to hold, checking after each turn of a timer of
 * `periodMs` (see {@link timerTurns}); throws naming `what` after `maxTurns`.
 */
export async function untilTurn(condition: () => boolean, what: string, periodMs: number, maxTurns = 2000): Promise<void> {
  for (let turn = 0; !condition(); turn++) {
    if (turn >= maxTurns) throw new Error(`timed out after ${maxTurns} timer turns waiting for: ${what}`);
    await timerTurns(periodMs, 1);
  }
}
