import { createOrgStream } from "@orgstream/client";

const stream = createOrgStream({
  baseUrl: "", // the worker's origin; "" when the page is served with it
  // Under `npm run dev` the worker hands out dev tokens; in production, ask your own backend.
  getToken: async () => (await (await fetch("/v1/dev/token")).json()).token,
  onEvent: (event) => {
    const item = document.createElement("li");
    item.dataset.id = event.id;
    item.textContent = `#${event.id} ${event.type} ${JSON.stringify(event.data)}`;
    document.getElementById("events").append(item);
  },
  onResync: () => location.reload(), // events were missed: reload your state
});
stream.subscribe((status) => (document.getElementById("status").textContent = status));
// stream.reconnect() tries the stream again at once; stream.close() releases everything.
