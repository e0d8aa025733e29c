// @orgstream/client: a live stream of an org's events for browsers (createOrgStream), validated by
// @orgstream/schema. React bindings: @orgstream/client/react.
export { createOrgStream } from "./stream.js";
export type { ConnectionStatus, OrgStream, OrgStreamOptions, ResyncInfo, Validate, Clock, Network, EventSourceLike } from "./stream.js";
export type { TabEnvironment, LockManagerLike, ChannelLike } from "./tabs.js";
export type { OrgEvent, ValidationIssue } from "@orgstream/schema";
export { overridesFromEnv, featureEnabled } from "./features.js";
export type { Entitlements } from "./features.js";
export { backoffDelay, BASE_DELAY_MS, MAX_DELAY_MS, JITTER } from "./backoff.js";
export type { AuthError } from "./api.js";
