"""A Label Studio ML backend that prefills TextAreas and Choices from a LangChain chat model."""

from ls_langchain.predictor.interactive import LLMInteractive
from ls_langchain.predictor.settings import Settings

__all__ = ["LLMInteractive", "Settings"]
