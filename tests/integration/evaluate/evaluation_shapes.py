"""A labeling config with every kind of control an evaluation compares, and result items of each."""

from __future__ import annotations

from typing import Any

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="pos"/><Choice value="neg"/><Choice value="neu"/>
  </Choices>
  <Choices name="topics" toName="text" choice="multiple">
    <Choice value="a"/><Choice value="b"/><Choice value="c"/>
  </Choices>
  <Taxonomy name="tax" toName="text">
    <Choice value="X"><Choice value="X1"/></Choice>
    <Choice value="Y"/>
  </Taxonomy>
  <Rating name="rating" toName="text"/>
  <Number name="number" toName="text"/>
  <Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/></Labels>
  <TextArea name="response" toName="text" rows="4" editable="true"/>
</View>"""
TEXT = "Ann met Bob in Rome."  # Ann 0-3, Bob 8-11, Rome 15-19


def region(control: str, **value: Any) -> dict[str, Any]:
    """A result item of one control, as the labeling UI or the backend makes it."""
    kinds = {"sentiment": "choices", "topics": "choices", "tax": "taxonomy", "rating": "rating", "number": "number"}
    kind = kinds.get(control) or ("labels" if control == "ner" else "textarea")
    return {"from_name": control, "to_name": "text", "type": kind, "value": value}


def result(
    sentiment: str | None = None,
    topics: list[str] | None = None,
    tax: list[list[str]] | None = None,
    rating: int | None = None,
    number: float | None = None,
    spans: list[tuple[str, int, int]] = (),  # type: ignore[assignment]
    text: str | None = None,
) -> list[dict[str, Any]]:
    """A whole result: only the controls given are filled."""
    made = []
    if sentiment is not None:
        made.append(region("sentiment", choices=[sentiment]))
    if topics:
        made.append(region("topics", choices=topics))
    if tax:
        made.append(region("tax", taxonomy=tax))
    if rating is not None:
        made.append(region("rating", rating=rating))
    if number is not None:
        made.append(region("number", number=number))
    for label, start, end in spans:
        made.append(region("ner", labels=[label], start=start, end=end, text=TEXT[start:end]))
    if text is not None:
        made.append(region("response", text=[text]))
    return made
