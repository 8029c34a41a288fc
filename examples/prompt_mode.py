"""The guide's first usage: a plain LLM whose every prompt and response becomes a task in "My Project"."""

from __future__ import annotations

from _common import llm, report

from ls_langchain import LabelStudioCallbackHandler


def run() -> list[LabelStudioCallbackHandler]:
    handler = LabelStudioCallbackHandler(project_name="My Project")
    model = llm(callbacks=[handler])
    print(model.invoke("Tell me a joke"))
    return [handler]


if __name__ == "__main__":
    report(run())
