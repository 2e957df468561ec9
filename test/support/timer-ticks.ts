/** Runs `work` with a 1 ms interval timer beside it and counts how often the timer ran before `work` settled. */
export async function withTimerTicks<T>(work: () => Promise<T>): Promise<{ value: T; ticks: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    return { value: await work(), ticks };
  } finally {
    clearInterval(timer);
  }
}
