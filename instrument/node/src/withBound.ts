/**
 * Waits for `work` at most `ms`; true when it settled (resolved or rejected) in time, false when
 * the bound ran out first. Never rejects. With `hold` the bound's timer keeps the process alive
 * (an awaited wait must end by its bound, not by the loop running dry); without it the timer is
 * unref'd, so a wait nobody awaits cannot hold an app whose work is done.
 */
export async function withBound(work: Promise<unknown>, ms: number, hold: boolean): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    if (!hold) timer.unref();
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      bound,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
