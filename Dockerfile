# The interactive LLM backend (`ls-langchain serve`) as a Label Studio ML backend on port 9090.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir ".[server,openai]"

# Per-project prompts and extra params live here (SQLite); mount a volume to keep them.
ENV MODEL_DIR=/data
VOLUME /data
EXPOSE 9090

CMD ["ls-langchain", "serve", "--host", "0.0.0.0", "--port", "9090"]
