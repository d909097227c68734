"""Routes for file uploads, and the emulated storage host they point at.

``POST /v1/uploads`` (``{"size", "mime_type"}``) plans an upload in parts of
``Emulator(upload_part_size=...)`` bytes and answers presigned part URLs that
point back at this server, outside ``/v1``, as the storage host would be:

- ``PUT /_storage/uploads/{id}/parts/{n}?X-Signature=...`` stores one part and
  answers its ``ETag`` (the quoted MD5 of its bytes). Like a real presigned
  URL it takes no bearer token: a request that carries an ``Authorization``
  header is refused (400), so a test proves the client did not leak it. The
  ``Content-Length`` must be the part's length and the ``Content-Type`` the
  upload's MIME type.
- ``POST /v1/uploads/{id}/complete`` (``{"etags": [...]}``, in part order)
  checks every ETag and answers ``{"download_url"}``.
- ``GET /_storage/files/{id}`` (the download URL, no auth) answers the
  assembled bytes with the upload's MIME type.

Recording and fault injection cover these paths too (``inject(path=
"/_storage/uploads/*")``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from ._records import Upload
from ._routing import STORE_KEY, Call, Holder, RouteTable
from ._state import Store
from ._validation import ApiError, Errors

routes = RouteTable()

STORAGE_PREFIX = "/_storage"


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'


def _origin(request: web.Request) -> str:
    return str(request.url.origin())


def _find(store: Store, upload_id: str) -> Upload:
    upload = store.uploads.get(upload_id)
    if upload is None:
        raise ApiError(404, "Upload not found")
    return upload


@routes.route("POST", "/uploads", body=True)
def create_upload(call: Call) -> web.Response:
    body = call.body
    errors = Errors()
    size, mime_type = body.get("size"), body.get("mime_type")
    if "size" not in body:
        errors.add(("body", "size"), "Field required", "missing")
    elif type(size) is not int:
        errors.add(("body", "size"), "Input should be a valid integer", "int_type")
    elif size <= 0:
        errors.add(("body", "size"), "Input should be greater than 0", "greater_than")
    if "mime_type" not in body:
        errors.add(("body", "mime_type"), "Field required", "missing")
    elif not isinstance(mime_type, str) or "/" not in mime_type:
        errors.add(("body", "mime_type"), "Input should be a MIME type", "value_error")
    errors.check()
    assert isinstance(size, int) and isinstance(mime_type, str)
    store = call.store
    upload_id = store.new_id("upload")
    upload = Upload(
        id=upload_id,
        owner_id=call.user.id,
        size=size,
        mime_type=mime_type,
        part_size=min(store.settings.upload_part_size, size),
        # "%2F" must arrive as sent: clients pass presigned URLs through verbatim.
        signature=hashlib.sha256(upload_id.encode()).hexdigest()[:16] + "/sig",
    )
    store.uploads[upload_id] = upload
    base = f"{_origin(call.request)}{STORAGE_PREFIX}/uploads/{upload_id}/parts"
    query = "X-Signature=" + upload.signature.replace("/", "%2F")
    urls = [f"{base}/{n}?{query}" for n in range(upload.part_count)]
    return call.json({"id": upload_id, "urls": urls, "part_size": upload.part_size})


@routes.route("POST", "/uploads/{upload_id}/complete", body=True)
def complete_upload(call: Call) -> web.Response:
    upload = _find(call.store, call.request.match_info["upload_id"])
    if upload.owner_id != call.user.id:
        raise ApiError(404, "Upload not found")
    etags: Any = call.body.get("etags")
    if not isinstance(etags, list) or not all(isinstance(e, str) for e in etags):
        raise ApiError(
            422,
            [
                {
                    "loc": ["body", "etags"],
                    "msg": "Input should be a valid list of strings",
                    "type": "list_type",
                }
            ],
        )
    if upload.data is None:
        if len(etags) != upload.part_count:
            raise ApiError(400, f"Expected {upload.part_count} etags, got {len(etags)}")
        for index, etag in enumerate(etags):
            part = upload.parts.get(index)
            if part is None:
                raise ApiError(400, f"Part {index} was not uploaded")
            if etag != _etag(part):
                raise ApiError(400, f"ETag of part {index} does not match")
        upload.data = b"".join(upload.parts[i] for i in range(upload.part_count))
        upload.parts.clear()
    url = f"{_origin(call.request)}{STORAGE_PREFIX}/files/{upload.id}"
    if not call.new_style:
        return call.json({"download_url": url})
    # The official UploadCompletionResult has the download_url; the service's
    # recorded answer to a completion names the file (file_id): both sent.
    return call.json({"download_url": url, "file_id": upload.id})


# -- the storage host ----------------------------------------------------------


def _storage_error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status,
        text=f"<Error><Message>{message}</Message></Error>",
        content_type="application/xml",
    )


async def put_part(request: web.Request) -> web.StreamResponse:
    if "Authorization" in request.headers:
        return _storage_error(
            400, "Only one auth mechanism allowed: the URL is presigned"
        )
    data = await request.read()
    store = request.app[STORE_KEY]
    with store.lock:
        upload = store.uploads.get(request.match_info["upload_id"])
        if upload is None or upload.data is not None:
            return _storage_error(404, "NoSuchUpload")
        if request.query.get("X-Signature") != upload.signature:
            return _storage_error(403, "SignatureDoesNotMatch")
        try:
            index = int(request.match_info["part"])
        except ValueError:
            index = -1
        if not 0 <= index < upload.part_count:
            return _storage_error(404, "NoSuchPart")
        if len(data) != upload.part_length(index):
            return _storage_error(
                400,
                f"Part {index} must be {upload.part_length(index)} bytes, "
                f"got {len(data)}",
            )
        if request.content_type != upload.mime_type:
            return _storage_error(400, "Content-Type does not match the upload")
        upload.parts[index] = data
    return web.Response(status=200, headers={"ETag": _etag(data)})


async def get_file(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE_KEY]
    with store.lock:
        upload = store.uploads.get(request.match_info["upload_id"])
        if upload is None or upload.data is None:
            return _storage_error(404, "NoSuchKey")
        data, mime_type = upload.data, upload.mime_type
    return web.Response(body=data, headers={"Content-Type": mime_type})


def install(app: web.Application, holder: Holder) -> None:
    """Add the upload routes and the storage host's routes to ``app``."""
    routes.install(app, holder)
    app.router.add_put(STORAGE_PREFIX + "/uploads/{upload_id}/parts/{part}", put_part)
    app.router.add_get(STORAGE_PREFIX + "/files/{upload_id}", get_file)
