// Flags of the scripts a user runs (`npm run token`, `npm run bench`, ...): node:util parseArgs in
// strict mode, `--help`, and for every mistake one line that says what is wrong, then the usage,
// exit code 2; never a stack trace.

import { parseArgs } from "node:util";

/**
 * Parses `process.argv` for the script `name` (as the user typed it, e.g. "npm run bench").
 * `usage` is printed on --help (exit 0) and after every error. `hint(error)` may return a better
 * sentence for a parseArgs error (the common mistakes of that script).
 */
export function parseFlags({ name, usage, options, hint }) {
  const fail = (message) => usageError(name, usage, message);
  let values;
  try {
    ({ values } = parseArgs({ options: { ...options, help: { type: "boolean", short: "h" } }, strict: true }));
  } catch (e) {
    fail(hint?.(e) ?? withSuggestion(e, Object.keys(options)));
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  return { values, fail };
}

/** parseArgs' message, plus the flag that was probably meant when an unknown one is close to it. */
function withSuggestion(error, names) {
  const typed = error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && error.message.match(/'--?([^']+)'/)?.[1];
  const near = typed && closest(typed, names);
  return near ? `${error.message}; did you mean --${near}?` : error.message;
}

/** The name in `names` within two edits of `typed`, if any (the flag probably meant). */
export function closest(typed, names) {
  return names.find((n) => distance(n, typed) <= 2);
}

/** Levenshtein distance, for the suggestion above (names are short). */
function distance(a, b) {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** Prints `name: message` and the usage to stderr, exits 2. */
export function usageError(name, usage, message) {
  console.error(`${name}: ${message}\n${usage}`);
  process.exit(2);
}

/** `value` as a number of at least `min`, or the usage error for `--flag`. */
export function numberFlag(fail, flag, value, { min = 0, integer = true } = {}) {
  const n = Number(value);
  if (value === undefined || value === "" || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    fail(`--${flag} must be ${integer ? "a whole number" : "a number"} of at least ${min}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** `value` split at commas, each one of `allowed`, or the usage error for `--flag`. */
export function listFlag(fail, flag, value, allowed) {
  const items = value.split(",").filter(Boolean);
  const unknown = items.filter((item) => !allowed.includes(item));
  if (unknown.length || items.length === 0) {
    fail(`--${flag}: ${unknown.length ? `unknown ${unknown.join(", ")}` : "empty"}; choose from ${allowed.join(", ")}`);
  }
  return items;
}

/**
 * The `NAME:VALUE` pairs given to wrangler's `--var` in `args`: `--var A:1`, `--var=A:1`, and
 * several after one flag (`--var A:1 B:2`), as wrangler reads them. Returns `[name, value]` pairs.
 */
export function wranglerVars(args) {
  const pairs = [];
  for (let i = 0; i < args.length; i++) {
    const values = [];
    if (args[i].startsWith("--var=")) values.push(args[i].slice("--var=".length));
    else if (args[i] === "--var") while (i + 1 < args.length && !args[i + 1].startsWith("-")) values.push(args[++i]);
    for (const v of values) {
      const at = v.search(/[:=]/);
      pairs.push(at < 0 ? [v, ""] : [v.slice(0, at), v.slice(at + 1)]);
    }
  }
  return pairs;
}
