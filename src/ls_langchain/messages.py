"""Pure functions that turn LangChain messages and generations into the role/content dicts tasks carry.

A message becomes what a person reads (OpenAI role names, text, ``[image N]`` where an image was, tool calls as
``Calls name({...})``) while its structure stays alongside: ``tool_calls``, ``tool_call_id``, ``name`` and the
``images`` themselves (URLs or data URIs), so exports can rebuild the conversation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, Generation

from ls_langchain.jsonsafe import json_safe

__all__ = ["conversation_to_dicts", "generation_to_dict", "message_to_dict", "render_dialogue"]

# LangChain message types -> the role names people and the OpenAI format use.
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}
_ROLE_TITLES = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}
# Content blocks that cannot be shown as text or image; a marker tells the reader something was there.
_OTHER_MEDIA = ("audio", "input_audio", "file", "video")


def _image_source(part: Mapping[str, Any]) -> str | None:
    """The URL or data URI of an image content block, in OpenAI, LangChain (v0 and v1) or Anthropic form."""
    kind = part.get("type")
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        return str(url) if url else None
    if kind != "image":
        return None
    if part.get("url"):
        return str(part["url"])
    data = part.get("base64") or (part.get("data") if part.get("source_type") == "base64" else None)
    if data:
        return f"data:{part.get('mime_type') or 'image/png'};base64,{data}"
    source = part.get("source")
    if isinstance(source, Mapping):
        if source.get("type") == "url" and source.get("url"):
            return str(source["url"])
        if source.get("type") == "base64" and source.get("data"):
            return f"data:{source.get('media_type') or 'image/png'};base64,{source['data']}"
    return None


def _read_content(content: str | Sequence[Any], first_image: int) -> tuple[str, list[str]]:
    """The readable text of a message's content and the images in it, numbered from ``first_image``."""
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, Mapping):
            source = _image_source(part)
            if source is not None:
                images.append(source)
                texts.append(f"[image {first_image + len(images) - 1}]")
            elif part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") in _OTHER_MEDIA:
                texts.append(f"[{part['type']}]")
    return "\n".join(text for text in texts if text), images


def _tool_call_text(name: str, args: Any) -> str:
    arguments = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False, sort_keys=True)
    return f"{name}({arguments})"


def message_to_dict(message: BaseMessage, first_image: int = 1) -> dict[str, Any]:
    """A message as a role/content dict: OpenAI role names, readable text, tool calls and images kept structured.

    Images are numbered from ``first_image`` so that markers run on across a conversation.
    """
    role = getattr(message, "role", None) if message.type == "chat" else _ROLES.get(message.type, message.type)
    content, images = _read_content(message.content, first_image)
    result: dict[str, Any] = {"role": str(role or message.type), "content": content}
    tool_calls = getattr(message, "tool_calls", None) or []
    if tool_calls:
        result["tool_calls"] = [
            json_safe({"id": c.get("id"), "name": c["name"], "args": c["args"]}) for c in tool_calls
        ]
        calls = "\n".join(f"Calls {_tool_call_text(c['name'], c['args'])}" for c in tool_calls)
        result["content"] = f"{content}\n{calls}" if content else calls
    if message.type == "tool":
        result["tool_call_id"] = getattr(message, "tool_call_id", None)
    if message.name:
        result["name"] = message.name
    if images:
        result["images"] = images
    return result


def conversation_to_dicts(messages: Iterable[BaseMessage]) -> list[dict[str, Any]]:
    """A conversation as message dicts, with ``[image N]`` numbered across the whole conversation."""
    result = []
    next_image = 1
    for message in messages:
        as_dict = message_to_dict(message, next_image)
        next_image += len(as_dict.get("images", ()))
        result.append(as_dict)
    return result


def render_dialogue(messages: Sequence[Mapping[str, Any]]) -> str:
    """A conversation as plain text for a Text input: one ``Role: content`` paragraph per message."""
    parts = []
    for message in messages:
        role = str(message.get("role", ""))
        title = _ROLE_TITLES.get(role, role.title())
        if role == "tool" and message.get("name"):
            title = f"Tool {message['name']}"
        parts.append(f"{title}: {message.get('content', '')}")
    return "\n\n".join(parts)


def generation_to_dict(generation: Generation) -> dict[str, Any]:
    """One candidate as an assistant message dict; an answer made only of tool calls reads as those calls."""
    if isinstance(generation, ChatGeneration):
        return message_to_dict(generation.message)
    return {"role": "assistant", "content": generation.text}
