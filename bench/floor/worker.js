// The floor: orgstream's design written as plainly as it can be, in JavaScript, for `npm run bench`
// (server `floor`) to run beside orgstream in the same workerd, under the same load. What it costs
// is what the runtime costs for this design; what orgstream costs above it is orgstream's own.
//
// The same design: the front worker holds each SSE stream and a hibernatable WebSocket to the
// org's Durable Object (`OrgHub`); a publish goes through the front worker to the hub, which
// appends to its SQLite log (id, envelope) and sends each socket the frame; the front worker
// writes what its socket gets to the stream, and pings the hub on a timer (answered by the
// runtime, as orgstream's heartbeat is). Left out on purpose: tokens (the org is `?org=`),
// validation, limits, replay, targeting, metrics, every error path.
//
// Its response body is a JavaScript `TransformStream` by default. `FLOOR_PIPE=native` makes it the
// runtime's native pipe (`IdentityTransformStream`) as orgstream's is, and `FLOOR_PROBE_MS` writes
// orgstream's liveness probe (`:`) every that many ms (always; orgstream only to a quiet stream): `npm run bench`'s `floor-native` server, a
// stream held the way orgstream holds it. The runtime streams a native pipe through a 64 KiB
// buffer per response and a JavaScript stream chunk by chunk (docs/bench/README.md, "Memory").

const HEARTBEAT_MS = 15_000;
const PROBE = new TextEncoder().encode(":\n");
const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-store" };

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const hub = env.ORG_HUB.get(env.ORG_HUB.idFromName(url.searchParams.get("org") ?? "floor"));
    if (url.pathname === "/v1/events" && request.method === "POST") {
      return hub.fetch("https://hub/publish", { method: "POST", body: await request.text() });
    }
    if (url.pathname === "/v1/stream") {
      const answer = await hub.fetch("https://hub/connect", { headers: { upgrade: "websocket" } });
      const socket = answer.webSocket;
      socket.binaryType = "arraybuffer"; // as orgstream's front worker reads them (not Blobs)
      socket.accept();
      const { readable, writable } = env.FLOOR_PIPE === "native" ? new IdentityTransformStream() : new TransformStream();
      const writer = writable.getWriter();
      writer.write(new TextEncoder().encode(`retry: 1000\n:ok\n\n`));
      socket.addEventListener("message", (event) => writer.write(new Uint8Array(event.data)));
      const ping = setInterval(() => socket.send("ping"), HEARTBEAT_MS);
      const probe = env.FLOOR_PROBE_MS ? setInterval(() => writer.write(PROBE).catch(() => {}), Number(env.FLOOR_PROBE_MS)) : null;
      const stop = () => {
        clearInterval(ping);
        clearInterval(probe);
      };
      socket.addEventListener("close", () => {
        stop();
        writer.close().catch(() => {});
      });
      request.signal?.addEventListener("abort", () => {
        stop();
        socket.close(1000, "client left");
      });
      return new Response(readable, { headers: SSE_HEADERS });
    }
    return new Response("not found", { status: 404 });
  },
};

export class OrgHub {
  constructor(ctx) {
    this.ctx = ctx;
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, envelope TEXT NOT NULL)");
    this.latest = this.sql.exec("SELECT COALESCE(MAX(id), 0) AS id FROM events").one().id;
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/connect") {
      const { 0: client, 1: server } = new WebSocketPair();
      this.ctx.acceptWebSocket(server);
      return new Response(null, { status: 101, webSocket: client });
    }
    const body = JSON.parse(await request.text());
    const events = body.events ?? [body];
    const ts = new Date().toISOString();
    const ids = [];
    let frames = "";
    for (const event of events) {
      const id = ++this.latest;
      const envelope = JSON.stringify({ id: String(id), type: event.type, ts, data: event.data });
      this.sql.exec("INSERT INTO events (id, envelope) VALUES (?, ?)", id, envelope);
      frames += `id: ${id}\nevent: ${event.type}\ndata: ${envelope}\n\n`;
      ids.push(String(id));
    }
    const message = new TextEncoder().encode(frames);
    for (const socket of this.ctx.getWebSockets()) {
      try {
        socket.send(message);
      } catch {}
    }
    return Response.json({ ids }, { status: 202 });
  }

  webSocketMessage() {}
  webSocketClose(socket, code) {
    try {
      socket.close(code === 1005 || code === 1006 ? 1000 : code, "closed");
    } catch {}
  }
}
