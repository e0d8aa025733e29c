// README.md's shell examples as data: which blocks run, the commands in each, and what each
// command's output should look like. tests/readme.test.mjs runs them against the worker.
//
// Conventions in README.md (kept readable for people first):
// - every ```sh block runs, in order, in one shell (variables carry over), unless the line before
//   it is `<!-- readme-test: skip: <why> -->`;
// - a command is a line plus its `\` continuation lines; `# ...` lines right after it say what it
//   prints: an HTTP status first when it is a request (`# 202 {"ids":["1"]}`), `...` for any text,
//   and whitespace (line breaks included) matches any whitespace;
// - `curl -N` is a stream: it runs for a couple of seconds and is judged on what arrived.

/** @typedef {{ text: string, expect: string | null, stream: boolean, line: number }} Command */
/** @typedef {{ line: number, skip: string | null, commands: Command[] }} Block */

/** @returns {Block[]} every ```sh block of `markdown`, in order. */
export function shellBlocks(markdown) {
  const lines = markdown.split("\n");
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== "```sh") continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end].trim() !== "```") end++;
    if (end === lines.length) throw new Error(`README.md:${i + 1}: a sh block that never closes`);
    let before = i - 1;
    while (before >= 0 && lines[before].trim() === "") before--;
    const marker = before >= 0 ? lines[before].match(/^<!--\s*readme-test:\s*skip:\s*(.+?)\s*-->$/) : null;
    blocks.push({ line: i + 1, skip: marker ? marker[1] : null, commands: commandsOf(lines.slice(start, end), start + 1) });
    i = end;
  }
  return blocks;
}

/** Splits a block's lines into commands, each with the expectation that follows it. */
export function commandsOf(lines, firstLine = 1) {
  const commands = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const last = commands.at(-1);
      if (!last) throw new Error(`README.md:${firstLine + i}: an expectation before any command`);
      const said = line.replace(/^#\s?/, "");
      last.expect = last.expect === null ? said : `${last.expect}\n${said}`;
      continue;
    }
    let text = line;
    const at = i;
    while (text.endsWith("\\") && i + 1 < lines.length) text = `${text}\n${lines[++i]}`;
    commands.push({ text, expect: null, stream: /\bcurl\s+-N\b/.test(text), line: firstLine + at });
  }
  return commands;
}

/**
 * Whether `output` (and `status`, for a request) is what `expect` says. Returns null when it is,
 * else a sentence saying what differs.
 */
export function mismatch(expect, { output, status }) {
  let wanted = expect.trim();
  const statusSaid = wanted.match(/^(\d{3})(?:\s+|$)/);
  if (statusSaid) {
    if (String(status) !== statusSaid[1]) return `status ${status}, expected ${statusSaid[1]}`;
    wanted = wanted.slice(statusSaid[0].length);
  }
  const pattern = wanted
    .split("...")
    .map((part) => part.trim().split(/\s+/).filter(Boolean).map(escape).join("\\s+"))
    .join("[\\s\\S]*?");
  if (new RegExp(`^\\s*${pattern}\\s*$`).test(output)) return null;
  return `output does not match ${JSON.stringify(wanted)}`;
}

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
