// Reconnect delays: 1 s, 2 s, 4 s, 8 s, 16 s, then 30 s at most, each with +/-20 % jitter so that
// many browsers that lost the same server do not come back at the same instant.

export const BASE_DELAY_MS = 1_000;
export const MAX_DELAY_MS = 30_000;
export const JITTER = 0.2;

/**
 * The delay before reconnect attempt number `failures` (1 = after the first failure).
 * `random` returns a number in [0, 1), as Math.random does.
 */
export function backoffDelay(failures: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.min(failures - 1, 30));
  const base = Math.min(BASE_DELAY_MS * 2 ** exponent, MAX_DELAY_MS);
  const factor = 1 - JITTER + 2 * JITTER * random();
  return Math.round(base * factor);
}
