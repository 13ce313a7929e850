"""`POST /hooks/tagmango/<secret>`: TagMango webhook deliveries (see bridge.webhooks).

Answered at once and in JSON: 200 with `{"status": "queued" | "duplicate" | "ignored"}` (TagMango
asks for a 200 and sends again otherwise), 400 for a body that is not a JSON object, 404 for an
unknown secret (as for any unknown URL), 413 for a body over MAX_DELIVERY_BYTES.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from bridge.services import services
from bridge.upstream.errors import UpstreamError
from bridge.webhooks import HOOK_PATH, MAX_DELIVERY_BYTES, BadDelivery, handle_delivery

blueprint = Blueprint("hooks", __name__)


def _answer(code: int, **fields: object) -> Response:
    response = jsonify(fields)
    response.status_code = code
    return response


@blueprint.post(f"{HOOK_PATH}/<secret>")
def tagmango_delivery(secret: str) -> Response:
    app = services()
    source = app.store.source_for_webhook(secret)
    if source is None:
        return _answer(404, error="No webhook here.")
    if (request.content_length or 0) > MAX_DELIVERY_BYTES:
        return _answer(413, error=f"A delivery must be at most {MAX_DELIVERY_BYTES:,} bytes.")
    body = request.get_data(cache=False)
    if len(body) > MAX_DELIVERY_BYTES:
        return _answer(413, error=f"A delivery must be at most {MAX_DELIVERY_BYTES:,} bytes.")
    try:
        outcome = handle_delivery(app, source, body, request.args.get("event") or None)
    except BadDelivery as error:
        return _answer(400, error=str(error))
    except UpstreamError as error:  # a participant re-check could not read TagMango: retry
        return _answer(503, error=str(error))
    return _answer(200, status=outcome)
