export { createOrgStream } from "./stream.js";
export type { ConnectionStatus, Envelope, OrgStream, OrgStreamOptions, ResyncInfo, ValidationIssue, Validate, Clock, Network, EventSourceLike } from "./stream.js";
export { backoffDelay, BASE_DELAY_MS, MAX_DELAY_MS, JITTER } from "./backoff.js";
