"""The guide's second usage: a chat model whose conversations become dialogue tasks in "New Project with Chat"."""

from __future__ import annotations

from _common import chat_model, report
from langchain_core.messages import HumanMessage, SystemMessage

from ls_langchain import LabelStudioCallbackHandler


def run() -> list[LabelStudioCallbackHandler]:
    handler = LabelStudioCallbackHandler(mode="chat", project_name="New Project with Chat")
    chat = chat_model(callbacks=[handler])
    answer = chat.invoke([SystemMessage(content="Always use a lot of emojis"), HumanMessage(content="Tell me a joke")])
    print(answer.content)
    return [handler]


if __name__ == "__main__":
    report(run())
