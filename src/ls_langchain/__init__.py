"""Connect LangChain to Label Studio."""
