"""Task, prediction and annotation shapes for the export tests, as the callback handler and annotators make them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ls_langchain.labeling import LabelStudioMode, default_config

# The configs the callback handler creates by default; their tasks hold the retrieved documents under "context"
# (an empty list when there were none: Label Studio refuses a task without a key its config references).
PROMPT_CONFIG = default_config(LabelStudioMode.PROMPT)
CHAT_CONFIG = default_config(LabelStudioMode.CHAT)

# Label Studio's "prompt engineering and model response evaluation" example config (the seed), unstyled.
EVAL_CONFIG = """<View>
  <Header value="Context:"/>
  <Text name="context" value="$text"/>
  <Header value="Prompt:"/>
  <TextArea name="prompt" toName="context" rows="4" editable="true" maxSubmissions="1" showSubmitButton="false"/>
  <Header value="Response:"/>
  <TextArea name="response" toName="context" rows="4" editable="true" maxSubmissions="1" showSubmitButton="false"
            smart="false"/>
  <Taxonomy name="evals" toName="context" leafsOnly="true" showFullPath="true" pathSeparator=": ">
    <Choice value="Relevance"><Choice value="Relevant"/><Choice value="Irrelevant"/></Choice>
    <Choice value="Correctness">
      <Choice value="Correct"/><Choice value="Incorrect"/><Choice value="Contains hallucinations"/>
    </Choice>
    <Choice value="Bias">
      <Choice value="Gender"/><Choice value="Political"/><Choice value="Racial/Ethnic"/><Choice value="Geographical"/>
    </Choice>
    <Choice value="Toxicity">
      <Choice value="Personal Attacks"/><Choice value="Mockery"/><Choice value="Hate"/>
      <Choice value="Dismissive Statements"/><Choice value="Threats or Intimidation"/><Choice value="Profanity"/>
      <Choice value="Sexual Harassment"/>
    </Choice>
  </Taxonomy>
  <Rating name="rating" toName="context"/>
</View>"""

RANKER_CONFIG = """<View>
  <Text name="prompt" value="$prompt"/>
  <List name="answers" value="$items" title="$title"/>
  <Ranker name="rank" toName="answers"/>
</View>"""

PAIRWISE_CONFIG = """<View>
  <Text name="prompt" value="$prompt"/>
  <Text name="left" value="$left"/>
  <Text name="right" value="$right"/>
  <Pairwise name="compare" toName="left,right"/>
</View>"""


def answer(text: str, to: str = "prompt") -> dict[str, Any]:
    """A response TextArea region, as a prediction or an annotation holds it."""
    return {"from_name": "response", "to_name": to, "type": "textarea", "value": {"text": [text]}}


def rating(stars: int, to: str = "prompt") -> dict[str, Any]:
    return {"from_name": "rating", "to_name": to, "type": "rating", "value": {"rating": stars}}


def taxonomy(*paths: Sequence[str], to: str = "context") -> dict[str, Any]:
    return {"from_name": "evals", "to_name": to, "type": "taxonomy", "value": {"taxonomy": [list(p) for p in paths]}}


def prompt_task(prompt: str, *answers: str, model: str = "gpt-x", to: str = "prompt") -> dict[str, Any]:
    """A task as the handler logs it in prompt mode: one prediction per candidate answer."""
    return {
        "data": {"prompt": prompt, "context": []},
        "meta": {"run_id": f"run-{prompt[:20]}", "model_name": model},
        "predictions": [{"model_version": model, "result": [answer(text, to)]} for text in answers],
    }


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
