"""Supervised fine-tuning lines: the logged conversation ending with the answer the annotator approved."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ls_langchain.errors import LabelingConfigError
from ls_langchain.export.reading import Layout, Reading

__all__ = ["check_sft", "sft_records"]


def check_sft(layout: Layout, *, completions: bool) -> None:
    """Refuse a config SFT lines cannot be made from, saying what would work."""
    if layout.response is None:
        raise LabelingConfigError(
            "SFT export needs the answer in a TextArea, and this project's config has none (or several, none named "
            '"response"): add <TextArea name="response" toName="..."/> or use --format eval.'
        )
    if completions and layout.dialogue:
        raise LabelingConfigError(
            f"Prompt/completion lines need a single prompt text, but {layout.input_name!r} is a dialogue "
            "(Paragraphs): export it as chat messages instead."
        )


def _final_answers(reading: Reading) -> list[str]:
    """Each distinct non-empty final answer; an unannotated task (kept by --all) gives its only prediction."""
    answers = [j.response for j in reading.judgements if j.response]
    if not reading.judgements and len(reading.candidates) == 1:
        answers = [reading.candidates[0].text]
    return [answer for answer in dict.fromkeys(answers) if answer]


def sft_records(reading: Reading, *, completions: bool = False) -> Iterator[dict[str, Any]]:
    """OpenAI chat fine-tuning records (``{"messages": [...]}``), or ``{"prompt", "completion"}`` ones."""
    for answer in _final_answers(reading):
        if completions:
            yield {"prompt": reading.prompt or "", "completion": answer}
        else:
            yield {"messages": [*reading.messages, {"role": "assistant", "content": answer}]}
