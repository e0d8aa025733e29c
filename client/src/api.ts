// The worker's HTTP endpoints as the stream uses them (docs/protocol.md 4): a stream ticket,
// history pages, and the newest event of a kept type. Each call takes a token; the caller decides
// what to do with the answer. A token the server refuses (401/403) is an `AuthRefused` carrying
// the server's code and message; any other failure is a plain Error.

import type { HistoryPage } from "@orgstream/schema";

/** The server's refusal of a token: its HTTP status, and the error's code and message (protocol 4). */
export interface AuthError {
  status: number;
  code: string;
  message: string;
}

/** Thrown when the server refuses the token (401 or 403). */
export class AuthRefused extends Error {
  constructor(readonly error: AuthError) {
    super(`the token was refused (${error.status} ${error.code}): ${error.message}`);
    this.name = "AuthRefused";
  }
}

export interface Api {
  /** A one-use ticket for the stream URL, for `token` (the token stays out of URLs). */
  ticket(token: string): Promise<string>;
  /** A page of history (`after`, `limit`, and `type` or `requestId` when given). */
  history(token: string, params: Record<string, string>): Promise<HistoryPage>;
  /** The newest event of a kept type (`GET /v1/events/latest`), kept beyond retention; null when refused. */
  latest(token: string, type: string): Promise<{ event: unknown } | null>;
}

/** What a refused request says: an AuthRefused for 401/403, else an Error naming `what`. */
async function refusal(response: Response, what: string): Promise<Error> {
  let code = "unknown";
  let message = response.statusText;
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === "string") code = body.error.code;
    if (typeof body.error?.message === "string") message = body.error.message;
  } catch {
    // Not the worker's JSON (a proxy, an outage): status and status text are what there is.
  }
  if (response.status === 401 || response.status === 403) return new AuthRefused({ status: response.status, code, message });
  return new Error(`${what} failed (${response.status} ${code}): ${message}`);
}

export function api(fetchImpl: typeof fetch, base: string): Api {
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  return {
    async ticket(token) {
      const response = await fetchImpl(`${base}/v1/stream/ticket`, { method: "POST", headers: bearer(token) });
      if (!response.ok) throw await refusal(response, "a stream ticket");
      return ((await response.json()) as { ticket: string }).ticket;
    },
    async history(token, params) {
      const response = await fetchImpl(`${base}/v1/events?${new URLSearchParams(params)}`, { headers: bearer(token) });
      if (!response.ok) throw await refusal(response, "reading history");
      return (await response.json()) as HistoryPage;
    },
    async latest(token, type) {
      const response = await fetchImpl(`${base}/v1/events/latest?${new URLSearchParams({ type })}`, { headers: bearer(token) });
      if (!response.ok) return null;
      return (await response.json()) as { event: unknown };
    },
  };
}
