"""A multimodal chat: a question with an image (a data URI here; an https URL works the same) becomes a chat task
whose text reads "[image 1]" where the picture was and whose image shows under the dialogue."""

from __future__ import annotations

import base64

from _common import chat_model, report
from langchain_core.messages import HumanMessage

from ls_langchain import LabelStudioCallbackHandler

# A small drawing, made here so the example needs no network.
CHART_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200" viewBox="0 0 320 200">
  <rect width="320" height="200" fill="#f7f7f7"/>
  <rect x="40" y="110" width="50" height="70" fill="#4c78a8"/>
  <rect x="130" y="60" width="50" height="120" fill="#f58518"/>
  <rect x="220" y="30" width="50" height="150" fill="#54a24b"/>
  <text x="160" y="22" font-family="sans-serif" font-size="16" text-anchor="middle">Tasks labeled per week</text>
</svg>"""
CHART = "data:image/svg+xml;base64," + base64.b64encode(CHART_SVG.encode()).decode()


def run() -> list[LabelStudioCallbackHandler]:
    handler = LabelStudioCallbackHandler(mode="chat", project_name="Multimodal Chat")
    chat = chat_model(callbacks=[handler])
    question = HumanMessage(
        content=[
            {"type": "text", "text": "Which week had the most labeled tasks?"},
            {"type": "image_url", "image_url": {"url": CHART}},
        ]
    )
    print(chat.invoke([question]).text)
    return [handler]


if __name__ == "__main__":
    report(run())
