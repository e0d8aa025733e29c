// The worker's HTTP endpoints as the stream uses them (docs/protocol.md 4): a stream ticket,
// history pages, and the newest event of a kept type. Each call takes a fresh token; the caller decides what to do with the answer.

import type { HistoryPage } from "@orgstream/schema";

export interface Api {
  /** A one-use ticket for the stream URL, for `token` (the token stays out of URLs). */
  ticket(token: string): Promise<string>;
  /** A page of history (`after`, `limit`, and `type` or `requestId` when given); null when refused. */
  history(token: string, params: Record<string, string>): Promise<HistoryPage | null>;
  /** The newest event of a kept type (`GET /v1/events/latest`), kept beyond retention; null when refused. */
  latest(token: string, type: string): Promise<{ event: unknown } | null>;
}

export function api(fetchImpl: typeof fetch, base: string): Api {
  return {
    async ticket(token) {
      const response = await fetchImpl(`${base}/v1/stream/ticket`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
      if (!response.ok) throw new Error(`a stream ticket was refused (${response.status})`);
      return ((await response.json()) as { ticket: string }).ticket;
    },
    async history(token, params) {
      const response = await fetchImpl(`${base}/v1/events?${new URLSearchParams(params)}`, { headers: { authorization: `Bearer ${token}` } });
      if (!response.ok) return null;
      return (await response.json()) as HistoryPage;
    },
    async latest(token, type) {
      const response = await fetchImpl(`${base}/v1/events/latest?${new URLSearchParams({ type })}`, { headers: { authorization: `Bearer ${token}` } });
      if (!response.ok) return null;
      return (await response.json()) as { event: unknown };
    },
  };
}
