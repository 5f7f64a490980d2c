/** Watches the event loop: a timer every `everyMs`, and the longest gap between its ticks so far. */
export function watchEventLoop(everyMs: number): { stop(): number } {
  let last = performance.now();
  let longestGap = 0;
  const ticks = setInterval(() => {
    longestGap = Math.max(longestGap, performance.now() - last);
    last = performance.now();
  }, everyMs);
  return {
    /** Stops the timer; the longest gap between ticks, in ms. */
    stop() {
      clearInterval(ticks);
      return longestGap;
    },
  };
}
