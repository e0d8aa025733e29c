// Publishing from a Node backend: mint a token with TOKEN_SECRET (jose), publish with an
// Idempotency-Key, and retry the same request until the worker answers, so the event is stored
// exactly once whatever is lost on the way.
//   ORGSTREAM_URL=http://127.0.0.1:8787 TOKEN_SECRET=... node examples/backend/publish.mjs
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";

const url = process.env.ORGSTREAM_URL ?? "http://127.0.0.1:8787";
const secret = new TextEncoder().encode(process.env.TOKEN_SECRET);

/** A token for one subject of an org (each of your users gets one with scope "subscribe"). */
function mint(org, sub, scope) {
  return new SignJWT({ org, scope }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setSubject(sub).setIssuedAt().setExpirationTime("10m").sign(secret);
}

/** Publishes `body` once: the same key on every attempt, until an answer comes. */
async function publish(token, body) {
  const key = randomUUID();
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(`${url}/v1/events`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      const answer = await response.json();
      if (response.ok) return answer.ids;
      if (response.status < 500 && response.status !== 429) throw new Error(`refused: ${answer.error.message}`);
    } catch (e) {
      if (e.message.startsWith("refused")) throw e; // a retry would be refused too
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 250 * 2 ** attempt)));
  }
}

const token = await mint("dev", "billing-service", "publish");
const ids = await publish(token, { type: "task.progress", data: { taskId: "import-42", progress: 0.5 } });
console.log(`published ${ids.join(", ")}`);
