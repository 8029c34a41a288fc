"""A Label Studio ML backend that prefills every control of a labeling config from a LangChain chat model,
interactively (``LLMInteractive``, ``ls-langchain serve``) or for a whole project (``predict_project``), and learns
few-shot examples from what people submitted (the webhook, ``learn_project``)."""

from ls_langchain.predictor.bulk import predict_project
from ls_langchain.predictor.interactive import LLMInteractive
from ls_langchain.predictor.learning import learn_project
from ls_langchain.predictor.settings import Settings

__all__ = ["LLMInteractive", "Settings", "learn_project", "predict_project"]
