// Type tests for useReliableQuery's `on` rules, checked by tsc with the client (client/tsconfig.json
// includes this folder; npm test runs it through scripts/build-client.mjs). Each `@ts-expect-error`
// must meet an error, or tsc fails: a misspelled type, a rule reading a field its type does not
// have, must not compile.
import type { CacheRules } from "@orgstream/client/react";

type Progress = Record<string, number>;

// Each rule gets its event narrowed to its type: `progress` is a task.progress field.
export const rules: CacheRules<Progress> = {
  "task.progress": (data, event) => ({ ...data, [event.data.taskId]: event.data.progress }),
  "task.completed": "invalidate",
};

export const misspelled: CacheRules<Progress> = {
  // @ts-expect-error "task.progres" is not an event type of the catalog
  "task.progres": (data: Progress | undefined) => data ?? {},
};

export const wrongField: CacheRules<Progress> = {
  // @ts-expect-error task.completed has no `progress`
  "task.completed": (data, event) => ({ ...data, [event.data.taskId]: event.data.progress }),
};
