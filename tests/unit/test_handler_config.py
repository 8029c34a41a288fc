"""Bad input to the handler is refused at construction with one readable line, before any network call."""

from __future__ import annotations

from pathlib import Path

import pytest

from ls_langchain import ConfigurationError, LabelingConfigError, LabelStudioCallbackHandler


@pytest.fixture(autouse=True)
def _no_user_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LABEL_STUDIO_API_KEY", "LABEL_STUDIO_URL", "LABEL_STUDIO_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LS_LANGCHAIN_OUTBOX_DIR", str(tmp_path))


def _one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(error.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_missing_api_key() -> None:
    with pytest.raises(ConfigurationError) as caught:
        LabelStudioCallbackHandler(url="http://127.0.0.1:9")
    assert "LABEL_STUDIO_API_KEY" in _one_line(caught)


@pytest.mark.parametrize("url", ["localhost:8080", "ftp://example.com", "http://", "not a url"])
def test_malformed_url(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        LabelStudioCallbackHandler(api_key="secret-key-123", url=url)
    text = _one_line(caught)
    assert "http://localhost:8080" in text
    assert "secret-key-123" not in text


def test_invalid_xml_config() -> None:
    with pytest.raises(LabelingConfigError) as caught:
        LabelStudioCallbackHandler(api_key="k", url="http://127.0.0.1:9", project_config="<View><Text></View>")
    assert "not valid XML" in _one_line(caught)


def test_config_without_textarea() -> None:
    with pytest.raises(LabelingConfigError) as caught:
        LabelStudioCallbackHandler(
            api_key="k", url="http://127.0.0.1:9", project_config='<View><Text name="prompt" value="$prompt"/></View>'
        )
    assert "<TextArea>" in _one_line(caught)


def test_unknown_mode() -> None:
    with pytest.raises(ConfigurationError, match="'prompt', 'chat'"):
        LabelStudioCallbackHandler(api_key="k", url="http://127.0.0.1:9", mode="dialogue")


def test_project_id_from_environment_must_be_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABEL_STUDIO_PROJECT_ID", "my-project")
    with pytest.raises(ConfigurationError, match="LABEL_STUDIO_PROJECT_ID"):
        LabelStudioCallbackHandler(api_key="k", url="http://127.0.0.1:9")


ONE_LINE_CONFIG = '<View><Text name="prompt" value="$prompt"/><TextArea name="answer" toName="prompt"/></View>'


def test_a_one_line_response_textarea_is_warned_about_at_construction(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="ls_langchain"):
        handler = LabelStudioCallbackHandler(api_key="k", url="http://127.0.0.1:9", project_config=ONE_LINE_CONFIG)
    handler.close(timeout=0)
    (warning,) = [r.getMessage() for r in caplog.records if "line breaks" in r.getMessage()]
    assert "'answer'" in warning and 'rows="4"' in warning


def test_the_default_configs_are_not_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="ls_langchain"):
        handler = LabelStudioCallbackHandler(api_key="k", url="http://127.0.0.1:9", mode="chat")
    handler.close(timeout=0)
    assert not [r for r in caplog.records if "line breaks" in r.getMessage()]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://local host:8080", "contains a space"),
        ("http://localhost:0", "has port 0"),
        ("http://localhost:99999", "has port 99999"),
    ],
)
def test_a_url_that_can_never_work_is_refused_at_once(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        LabelStudioCallbackHandler(api_key="k", url=url)
    assert says in _one_line(caught)


def test_a_blank_api_key_is_called_blank() -> None:
    with pytest.raises(ConfigurationError) as caught:
        LabelStudioCallbackHandler(api_key="   ", url="http://127.0.0.1:9")
    assert "API key is blank" in _one_line(caught)


@pytest.mark.parametrize("length", [51, 100_000])
def test_a_project_name_longer_than_label_studio_allows(length: int) -> None:
    with pytest.raises(ConfigurationError) as caught:
        LabelStudioCallbackHandler(api_key="k", url="http://127.0.0.1:9", project_name="x" * length)
    assert f"is {length} characters long: Label Studio allows at most 50" in _one_line(caught)


@pytest.mark.parametrize("project_id", [1.7, "1.7", True])
def test_a_project_id_that_is_no_whole_number(project_id: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        LabelStudioCallbackHandler(api_key="k", url="http://127.0.0.1:9", project_id=project_id)  # type: ignore[arg-type]
    assert "is not a whole number" in _one_line(caught)


def test_an_outbox_dir_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(ConfigurationError) as caught:
        LabelStudioCallbackHandler(api_key="k", url="http://127.0.0.1:9", outbox_dir=path)
    assert f"The outbox folder {path} cannot be used" in _one_line(caught)


def test_credentials_in_the_url_are_never_shown_nor_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``user:password@`` in LABEL_STUDIO_URL stays out of the outbox's stored target, the delivery errors in the
    log, and the CLI's messages. Label Studio is down (nothing listens on port 9); the model is FakeListChatModel,
    a test double."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from ls_langchain.cli import main

    url = "http://ls-user:s3cret-pw@127.0.0.1:9"
    handler = LabelStudioCallbackHandler(url=url, api_key="key-123", project_name="creds", outbox_dir=tmp_path / "o")
    FakeListChatModel(responses=["an answer"]).invoke("a prompt", config={"callbacks": [handler]})
    assert not handler.flush(timeout=3)
    handler.close(timeout=1)
    assert handler.url == "http://127.0.0.1:9"
    for path in (tmp_path / "o").iterdir():
        assert b"s3cret-pw" not in path.read_bytes(), path
    assert main(["outbox", "status", "--outbox-dir", str(tmp_path / "o")]) == 0
    export = ["export", "--project", "1", "--format", "sft", "--out", str(tmp_path / "x.jsonl")]
    assert main([*export, "--url", url, "--api-key", "key-123"]) == 2
    printed = capsys.readouterr()
    assert "127.0.0.1:9" in printed.out + printed.err
    assert "s3cret-pw" not in printed.out + printed.err + caplog.text
