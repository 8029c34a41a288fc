"""The guide's third usage: a project created with a labeling config of your own (feedback, rating, sentiment)."""

from __future__ import annotations

from _common import llm, report

from ls_langchain import LabelStudioCallbackHandler

CONFIG = """
<View>
<Text name="prompt" value="$prompt"/>
<TextArea name="response" toName="prompt"/>
<TextArea name="user_feedback" toName="prompt"/>
<Rating name="rating" toName="prompt"/>
<Choices name="sentiment" toName="prompt">
    <Choice value="Positive"/>
    <Choice value="Negative"/>
</Choices>
</View>
"""


def run() -> list[LabelStudioCallbackHandler]:
    handler = LabelStudioCallbackHandler(project_name="Custom Config Project", project_config=CONFIG)
    model = llm(callbacks=[handler])
    for prompt in ("Summarize the plot of Hamlet in one line", "Write a haiku about data labeling"):
        print(model.invoke(prompt))
    return [handler]


if __name__ == "__main__":
    report(run())
