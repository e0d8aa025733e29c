// Tokens from the app's getToken, kept until shortly before they expire: one getToken call per
// token lifetime instead of one per request (in production each is a call to the app's backend).
// The claims are read without checking the signature: only the server can, and it does.

import type { Clock } from "./options.js";

/** A token is asked for again this long before its `exp`. */
export const TOKEN_RENEW_BEFORE_MS = 60_000;

/** The claims of a token this client reads (the share's name, when to renew), or null. */
export function readClaims(token: string): { org?: unknown; sub?: unknown; exp?: unknown } | null {
  try {
    const part = token.split(".")[1];
    if (!part) return null;
    const claims: unknown = JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
    return claims !== null && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

export interface Tokens {
  /** The kept token, or a new one from getToken when none is kept or it is about to expire. */
  current(): Promise<string>;
  /** A new token from getToken, whatever is kept (the server refused the kept one). */
  fresh(): Promise<string>;
  /** Drops the kept token (the server refused it): the next `current` asks getToken. */
  forget(): void;
}

export function keepTokens(getToken: () => string | Promise<string>, clock: Clock): Tokens {
  let kept: { token: string; renewAt: number } | null = null;
  // Callers at the same moment share one getToken call.
  let asking: Promise<string> | null = null;
  const ask = () => {
    asking ??= (async () => {
      try {
        const token = await getToken();
        const exp = readClaims(token)?.exp;
        // A token without a readable exp is not kept: ask each time, as the app may expect.
        kept = typeof exp === "number" ? { token, renewAt: exp * 1000 - TOKEN_RENEW_BEFORE_MS } : null;
        return token;
      } finally {
        asking = null;
      }
    })();
    return asking;
  };
  return {
    current: () => (kept && clock.now() < kept.renewAt ? Promise.resolve(kept.token) : ask()),
    fresh: () => {
      kept = null;
      return ask();
    },
    forget: () => {
      kept = null;
    },
  };
}
