"""A task's data as model input: template fields, a readable dialogue, and images as message parts.

Only the source object's own field is ever fetched. Fetching follows three rules: ``data:`` URIs and public
http(s) URLs only; files on Label Studio itself are read with ``LABEL_STUDIO_URL`` / ``LABEL_STUDIO_API_KEY``
(the token Label Studio hands to ``/setup`` is the legacy one, refused while legacy tokens are off), and only
through Label Studio's file routes, never its API; every other connection is made only to an address that
``netguard`` allows (public by default), checked where it connects, after every redirect.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import mimetypes
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from ls_langchain.errors import LSLangChainError, TaskInputError
from ls_langchain.labeling import ConfigObject, ObjectKind
from ls_langchain.predictor.netguard import GuardedTransport
from ls_langchain.predictor.settings import Settings
from ls_langchain.studio import Studio, resolve_url

__all__ = ["IMAGE_PLACEHOLDER", "MediaLoader", "render_dialogue", "template_fields"]

#: What ``{text}`` reads for an image task: the image itself travels as a message part.
IMAGE_PLACEHOLDER = "(the attached image)"
_MAX_REDIRECTS = 3
# The routes by which Label Studio 1.23 serves files (label_studio/data_import/urls.py, io_storages/urls.py): uploads,
# local-storage files, and the cloud-storage resolvers. The backend's key reads these and nothing else of its API.
_STUDIO_FILE_ROUTES = re.compile(
    r"/(data/upload/.+|storage-data/uploaded/|data/local-files/|(tasks|projects)/[0-9]+/(resolve|presign)/)"
)
_STUDIO_FILE_ROUTE_NAMES = "/data/upload/, /data/local-files/, /storage-data/uploaded/, /tasks|projects/<id>/resolve/"


def render_dialogue(items: Any, *, name_key: str = "author", text_key: str = "text") -> str:
    """Paragraphs data as ``speaker: words`` lines, the way a person would read the conversation."""
    if not isinstance(items, list):
        return str(items)
    lines = []
    for item in items:
        if isinstance(item, Mapping):
            speaker, words = item.get(name_key), item.get(text_key)
            lines.append(f"{speaker}: {words}" if speaker else str(words))
        else:
            lines.append(str(item))
    return "\n".join(lines)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def template_fields(
    source: ConfigObject, data: Mapping[str, Any], source_text: str, labels: list[str]
) -> dict[str, str]:
    """The ``{field}`` values of a task: its data, ``{text}`` (the source as read), and ``{labels}``."""
    fields = {str(key): _as_text(value) for key, value in data.items()}
    if source.value_key:
        fields[source.value_key] = source_text
    fields["text"] = source_text
    fields["labels"] = ", ".join(labels)
    return fields


@functools.lru_cache(maxsize=8)
def _studio(url: str, api_key: str) -> Studio:
    """One client per Label Studio and key, kept across requests (it holds the refreshed access token)."""
    return Studio(url, api_key)


class MediaLoader:
    """Reads the source object of a task: text as a string, an image as a LangChain content block."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        url, key = settings.label_studio_url, settings.label_studio_api_key
        self._studio_url = resolve_url(url, argument="LABEL_STUDIO_URL") if url else None
        self._studio_key = key

    async def source_text(self, source: ConfigObject, data: Mapping[str, Any]) -> str:
        """The text the prompt is about: Text and HyperText as is (fetched when ``valueType="url"``), a dialogue."""
        value = data.get(source.value_key) if source.value_key else None
        if value is None:
            raise TaskInputError(
                f"The task has no {source.value_key!r} field for <{source.tag} name={source.name!r}>; "
                f"its fields are {', '.join(sorted(data)) or 'none'}."
            )
        if source.kind is ObjectKind.IMAGE:
            return IMAGE_PLACEHOLDER
        if source.kind is ObjectKind.DIALOGUE:
            return render_dialogue(value, name_key=source.name_key, text_key=source.text_key)
        if source.is_url and isinstance(value, str):
            body, _ = await self._fetch(value)
            return body.decode("utf-8", errors="replace")
        return _as_text(value)

    async def image_block(self, source: ConfigObject, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """The task's image as a content block (by URL or inline), or None when the source is not an image."""
        if source.kind is not ObjectKind.IMAGE:
            return None
        url = data.get(source.value_key) if source.value_key else None
        if not isinstance(url, str) or not url:
            raise TaskInputError(f"The task's {source.value_key!r} field holds no image URL.")
        if url.startswith("data:"):
            return {"type": "image", "url": url}
        if not self._settings.inline_images and not self._on_studio(url) and urlsplit(url).scheme in ("http", "https"):
            return {"type": "image", "url": url}
        body, content_type = await self._fetch(url)
        mime = content_type if content_type.startswith("image/") else None
        mime = mime or mimetypes.guess_type(urlsplit(url).path)[0] or "image/png"
        return {"type": "image", "base64": base64.b64encode(body).decode("ascii"), "mime_type": mime}

    def _on_studio(self, url: str) -> bool:
        return url.startswith("/") or bool(self._studio_url and url.startswith(self._studio_url + "/"))

    async def _fetch(self, url: str) -> tuple[bytes, str]:
        """The bytes behind ``url`` and their content type, under the rules in the module docstring."""
        if self._on_studio(url):
            return await self._from_studio(url)
        transport = GuardedTransport(
            allow_private=self._settings.allow_private_urls, allow_link_local=self._settings.allow_link_local_urls
        )
        timeout = self._settings.llm_timeout
        async with httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False) as client:
            for _ in range(_MAX_REDIRECTS + 1):  # each hop is checked again, by the transport, where it connects
                if urlsplit(url).scheme not in ("http", "https"):
                    raise TaskInputError(
                        f"Cannot read {url[:80]!r}: only http(s) URLs, data: URIs and Label Studio files are supported."
                    )
                async with client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        raise TaskInputError(f"Fetching {url[:80]} answered HTTP {response.status_code}.")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > self._settings.max_image_bytes:
                            raise TaskInputError(
                                f"{url[:80]} is larger than MAX_IMAGE_BYTES={self._settings.max_image_bytes}."
                            )
                    return bytes(body), response.headers.get("content-type", "").split(";")[0].strip()
        raise TaskInputError(f"{url[:80]} redirects more than {_MAX_REDIRECTS} times.")

    def _check_studio_file_route(self, url: str) -> None:
        """Refuse, in one line, a Label Studio URL that is not one of its file routes (its API, say)."""
        # The path as Studio.download will request it: below LABEL_STUDIO_URL, whatever the value's form.
        on_studio = self._studio_url and url.startswith(self._studio_url + "/")
        relative = "/" + (url[len(self._studio_url or "") :] if on_studio else url).lstrip("/")
        path = unquote(urlsplit(relative).path)
        segments = path.split("/")
        if "." in segments or ".." in segments or "\\" in path or not _STUDIO_FILE_ROUTES.fullmatch(path):
            raise TaskInputError(
                f"Refusing to read {url[:80]!r} from Label Studio: only its file routes ({_STUDIO_FILE_ROUTE_NAMES}) "
                "are read with the backend's key."
            )

    async def _from_studio(self, url: str) -> tuple[bytes, str]:
        self._check_studio_file_route(url)
        if not (self._studio_url and self._studio_key):
            raise TaskInputError(
                f"{url[:80]} is a Label Studio file: set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY for the backend "
                "so that it can read it."
            )
        studio = _studio(self._studio_url, self._studio_key)
        try:
            return await asyncio.to_thread(studio.download, url, max_bytes=self._settings.max_image_bytes)
        except LSLangChainError as exc:
            raise TaskInputError(str(exc)) from exc
