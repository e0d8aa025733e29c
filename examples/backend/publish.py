# Publishing from a Python backend: mint a token with TOKEN_SECRET (PyJWT), publish with an
# Idempotency-Key, and retry the same request until the worker answers, so the event is stored
# exactly once whatever is lost on the way. Needs PyJWT (pip install PyJWT); HTTP is the standard
# library's.
#   ORGSTREAM_URL=http://127.0.0.1:8787 TOKEN_SECRET=... python3 examples/backend/publish.py
import json
import os
import time
import urllib.error
import urllib.request
import uuid

import jwt

URL = os.environ.get("ORGSTREAM_URL", "http://127.0.0.1:8787")
SECRET = os.environ["TOKEN_SECRET"]


def mint(org, sub, scope):
    """A token for one subject of an org (each of your users gets one with scope "subscribe")."""
    now = int(time.time())
    claims = {"org": org, "sub": sub, "scope": scope, "iat": now, "exp": now + 600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def publish(token, body):
    """Publishes `body` once: the same key on every attempt, until an answer comes."""
    key = str(uuid.uuid4())
    data = json.dumps(body).encode()
    for attempt in range(1, 1000):
        request = urllib.request.Request(
            f"{URL}/v1/events",
            data=data,
            method="POST",
            headers={"authorization": f"Bearer {token}", "content-type": "application/json", "idempotency-key": key},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)["ids"]
        except urllib.error.HTTPError as e:
            if e.code < 500 and e.code != 429:
                raise RuntimeError(f"refused: {json.load(e)['error']['message']}") from None
        except (urllib.error.URLError, TimeoutError):
            pass  # the worker is away: try again
        time.sleep(min(30, 0.25 * 2**attempt))
    raise RuntimeError("no answer after many attempts")


token = mint("dev", "billing-service", "publish")
ids = publish(token, {"type": "task.progress", "data": {"taskId": "import-42", "progress": 0.5}})
print(f"published {', '.join(ids)}")
