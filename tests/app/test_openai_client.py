"""The official `openai` Python client against /v1, streaming and not (fakes behind)."""

from __future__ import annotations

import openai
import pytest


@pytest.fixture
def oai(client, hr_key):
    return openai.OpenAI(
        base_url=str(client.base_url) + "/v1", api_key=hr_key, http_client=client, max_retries=0
    )


def test_models_and_licence(oai):
    models = oai.models.list()
    assert models.data[0].id == "scripted-model"
    assert models.data[0].model_extra["license"] == "apache-2.0"


def test_chat_completion_with_sources(oai):
    completion = oai.chat.completions.create(
        model="scripted-model",
        messages=[{"role": "user", "content": "How many days of annual leave in Paris?"}],
    )
    assert "27 days" in completion.choices[0].message.content
    extra = completion.model_extra
    assert extra["sources"][0]["document_id"] == "leave" and extra["citations"]


def test_a_cited_answer_ends_with_the_sources_its_markers_lead_to(oai, settings):
    """Chat clients show the text alone: its bare [1] pointed nowhere."""
    question = [{"role": "user", "content": "How many days of annual leave in Paris?"}]
    completion = oai.chat.completions.create(model="scripted-model", messages=question)
    text, sources = completion.choices[0].message.content.split("\n\nSources:\n")
    markers = sorted({c["marker"] for c in completion.model_extra["citations"]})
    assert "27 days" in text and markers and all(f"[{n}]" in text for n in markers)
    lines = sources.splitlines()
    assert [line.split("]")[0] + "]" for line in lines] == [f"[{n}]" for n in markers]
    cited = {c["marker"]: c for c in completion.model_extra["citations"]}
    assert lines[0].startswith(f"[{markers[0]}] {cited[markers[0]]['title']}")
    settings.openai_sources_in_text = False
    plain = oai.chat.completions.create(model="scripted-model", messages=question)
    assert "Sources:" not in plain.choices[0].message.content


def test_the_sources_a_client_sends_back_stay_out_of_the_prompt(oai, model):
    first = oai.chat.completions.create(model="scripted-model", messages=PARIS_THEN_BERLIN[:1])
    answer = first.choices[0].message.content
    assert "\n\nSources:\n[" in answer
    history = [PARIS_THEN_BERLIN[0], {"role": "assistant", "content": answer}, PARIS_THEN_BERLIN[2]]
    oai.chat.completions.create(model="scripted-model", messages=history)
    earlier = [m["content"] for m in model.prompts[-1] if m["role"] == "assistant"]
    assert earlier == [answer.split("\n\nSources:")[0]]


def streamed(oai, question: str) -> tuple[str, list]:
    """The text a streaming client puts together, and the chunks it came in."""
    chunks = list(
        oai.chat.completions.create(
            model="scripted-model", messages=[{"role": "user", "content": question}], stream=True
        )
    )
    return "".join(c.choices[0].delta.content or "" for c in chunks), chunks


def test_streaming_chat_completion(oai):
    text, chunks = streamed(oai, "When does the canteen open?")
    assert "27 days" in text  # the scripted answer, checked, then sent
    contents = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert contents == [text]  # in one chunk, once checked
    assert "\n\nSources:\n[" in text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["sources"]


def test_a_streamed_unsupported_draft_never_reaches_the_client(oai, model):
    model.answer = "The CEO owns nine yachts in Monaco."
    text, chunks = streamed(oai, "annual leave in Paris")
    assert "yachts" not in text
    assert text.startswith("“Employees in the Paris office get 27 days")
    assert chunks[-1].model_extra["quoted"] and chunks[-1].model_extra["citations"]


def test_with_drafts_on_the_draft_streams_and_its_quote_follows(oai, model, settings):
    settings.openai_stream_drafts = True
    model.answer = "The CEO owns nine yachts in Monaco."
    text, chunks = streamed(oai, "annual leave in Paris")
    draft, quote = text.split("\n\n", 1)
    assert "yachts" in draft and quote.startswith("“Employees in the Paris office get 27 days")
    contents = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert contents[-1].startswith("\n\nSources:\n[1] ")  # after the quote, in its own chunk
    assert len(chunks) > 4  # the draft came piece by piece
    assert chunks[-1].model_extra["quoted"] and chunks[-1].model_extra["citations"]


def test_tools_are_refused(oai):
    with pytest.raises(openai.BadRequestError) as error:
        oai.chat.completions.create(
            model="scripted-model",
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        )
    assert "tools" in str(error.value)


def test_json_response_format_is_refused(oai):
    """It was ignored: LangChain's json mode then failed to parse a prose answer."""
    with pytest.raises(openai.BadRequestError) as error:
        oai.chat.completions.create(
            model="scripted-model",
            messages=[{"role": "user", "content": "annual leave in Paris"}],
            response_format={"type": "json_object"},
        )
    assert "response_format" in str(error.value)


def test_a_max_tokens_above_hearths_limit_is_capped_not_refused(oai, model, settings):
    """Continue.dev sends max_tokens 4096 and LangChain max_completion_tokens 1024 by default:
    every request of theirs was refused with 400."""
    ask = [{"role": "user", "content": "annual leave in Paris"}]
    model.answer = " ".join(["word"] * 500)
    settings.quote_unsupported = False  # the model's text is under test
    for options in ({"max_tokens": 4096}, {"max_completion_tokens": 1024}):
        plain = oai.chat.completions.create(
            model="scripted-model", messages=ask, extra_body={"retrieval": False}, **options
        )
        assert plain.usage.completion_tokens <= settings.max_answer_tokens + 1
        assert plain.choices[0].finish_reason == "length"
        answered = oai.chat.completions.create(model="scripted-model", messages=ask, **options)
        assert answered.choices[0].message.content


def test_a_quiet_stream_sends_keep_alives_that_clients_skip(oai, client, model, monkeypatch):
    """A checked answer streams only once the model is done (50-90 s on a busy CPU), and
    proxies drop a connection idle for 60 s: the stream said nothing meanwhile."""
    from app.routes import streaming

    monkeypatch.setattr(streaming, "KEEP_ALIVE_S", 0.05)
    model.delay = 0.1  # eleven words: a second of silence before the checked answer
    model.answer = "Employees in Paris get 27 days of annual leave a year [1]."
    chat = {"messages": [{"role": "user", "content": "annual leave in Paris"}], "stream": True}
    raw = client.post("/v1/chat/completions", json=chat).text
    assert raw.count(": keep-alive\n\n") >= 1 and raw.endswith("data: [DONE]\n\n")
    text, _ = streamed(oai, "annual leave in Paris")  # the openai client skips the comments
    assert "27 days" in text


PARIS_THEN_BERLIN = [
    {"role": "user", "content": "How many days of annual leave in Paris?"},
    {"role": "assistant", "content": "27 days."},
    {"role": "user", "content": "and in Berlin?"},
]


def test_history_comes_from_the_messages(oai, model):
    oai.chat.completions.create(
        model="scripted-model",
        messages=PARIS_THEN_BERLIN,
    )
    assert [m["role"] for m in model.prompts[-1]] == ["system", "user", "assistant", "user"]


def test_no_history_turns_puts_no_earlier_message_in_the_prompt(oai, model, settings):
    settings.history_turns = 0  # `messages[-0:]` would have sent them all
    oai.chat.completions.create(
        model="scripted-model",
        messages=PARIS_THEN_BERLIN,
    )
    assert [m["role"] for m in model.prompts[-1]] == ["system", "user"]


def test_retrieval_can_be_switched_off(oai, model):
    completion = oai.chat.completions.create(
        model="scripted-model",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        extra_body={"retrieval": False},
    )
    assert "27 days" in completion.choices[0].message.content
    assert model.prompts[-1] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert completion.model_extra["sources"] == []


def test_content_given_as_text_parts_is_read_as_its_text(oai, model):
    completion = oai.chat.completions.create(
        model="scripted-model",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "How many days of annual leave"},
                    {"type": "text", "text": "in Paris?"},
                ],
            }
        ],
    )
    assert "27 days" in completion.choices[0].message.content
    assert model.prompts[-1][-1]["content"].endswith("How many days of annual leave\nin Paris?")
    with pytest.raises(openai.BadRequestError, match="only text content parts"):
        oai.chat.completions.create(
            model="scripted-model",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:,"}}],
                }
            ],
        )


def test_only_one_choice_and_a_boolean_retrieval_are_accepted(oai):
    for extra in ({"n": 3}, {"retrieval": "no"}, {"retrieval": 0}):
        with pytest.raises(openai.BadRequestError):
            oai.chat.completions.create(
                model="scripted-model",
                messages=[{"role": "user", "content": "hi"}],
                extra_body=extra,
            )


def test_a_null_retrieval_and_an_assistant_refusal_part_are_accepted(oai, model):
    completion = oai.chat.completions.create(
        model="scripted-model",
        messages=[
            {"role": "user", "content": "Tell me a secret."},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
            {"role": "user", "content": "How many days of annual leave in Paris?"},
        ],
        extra_body={"retrieval": None},  # as before: answered from the documents
    )
    assert completion.model_extra["sources"]
    assert [m["role"] for m in model.prompts[-1]] == ["system", "user", "assistant", "user"]


def test_models_refuse_a_wrong_key_as_every_route_does(client):
    wrong = {"Authorization": "Bearer hk_not-a-key"}
    assert client.get("/v1/models", headers=wrong).status_code == 401
    assert client.get("/v1/models").status_code == 200  # anonymous callers may list it


def test_usage_counts_the_tokens_the_model_read_and_wrote(oai, model):
    completion = oai.chat.completions.create(
        model="scripted-model",
        messages=[{"role": "user", "content": "How many days of annual leave in Paris?"}],
    )
    usage = completion.usage
    assert usage.prompt_tokens == model.prompt_tokens(model.prompts[-1]) > 0
    assert usage.completion_tokens == model.count_tokens(model.answer) > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    chunks = list(
        oai.chat.completions.create(
            model="scripted-model",
            messages=[{"role": "user", "content": "How many days of annual leave in Paris?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage.total_tokens == usage.total_tokens
    assert chunks[-1].choices == []  # OpenAI's shape: usage comes alone, last
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-2].usage is None
    refused = oai.chat.completions.create(  # abstained before the model: nothing counted
        model="scripted-model", messages=[{"role": "user", "content": "zebra quantum opera"}]
    )
    assert refused.model_extra["abstained"] and refused.usage.total_tokens == 0


def test_finish_reason_is_length_when_max_tokens_cut_the_answer(oai, model):
    model.answer = "Employees in Paris get 27 days [1] of annual leave each year, as the page says."
    ask = [{"role": "user", "content": "annual leave in Paris"}]
    whole = oai.chat.completions.create(model="scripted-model", messages=ask)
    assert whole.choices[0].finish_reason == "stop"
    cut = oai.chat.completions.create(model="scripted-model", messages=ask, max_tokens=7)
    assert cut.choices[0].finish_reason == "length"
    assert cut.choices[0].message.content.startswith("Employees in Paris get 27 days [1]")
    chunks = list(
        oai.chat.completions.create(model="scripted-model", messages=ask, max_tokens=7, stream=True)
    )
    assert chunks[-1].choices[0].finish_reason == "length"
    plain = oai.chat.completions.create(
        model="scripted-model", messages=ask, max_tokens=3, extra_body={"retrieval": False}
    )
    assert plain.choices[0].finish_reason == "length"


@pytest.mark.parametrize("stream", [False, True])
def test_a_quote_keeps_to_max_tokens_and_its_sources(oai, model, stream):
    """A quote replacing the model's answer ignored max_tokens: ~40 tokens for 8 asked."""
    model.answer = "The CEO owns nine yachts in Monaco."
    ask = [{"role": "user", "content": "annual leave in Paris"}]

    def complete(**options) -> tuple[str, str | None, dict]:
        reply = oai.chat.completions.create(
            model="scripted-model", messages=ask, stream=stream, **options
        )
        if not stream:
            choice = reply.choices[0]
            return choice.message.content, choice.finish_reason, reply.model_extra
        chunks = list(reply)
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        return text, chunks[-1].choices[0].finish_reason, chunks[-1].model_extra

    whole, finish, extra = complete()
    assert extra["quoted"] and finish == "stop" and "(The model's own answer" in whole
    for limit in (8, 3, 1):
        text, finish, cut = complete(max_tokens=limit)
        content, footer = text.split("\n\nSources:\n") if "Sources:" in text else (text, "")
        assert model.count_tokens(content) <= limit, (limit, content)
        assert finish == "length" and cut["quoted"]
        assert cut["citations"] == extra["citations"] and cut["sources"] == extra["sources"]
        assert footer.startswith("[1] Annual leave > Paris")  # where the quote came from
    text, _, _ = complete(max_tokens=8)
    assert text.startswith("“Employees in the Paris office get…” [1]\n\nSources:")


def test_an_i_dont_know_keeps_to_max_tokens(oai, model):
    ask = [{"role": "user", "content": "Who won the football world cup?"}]
    short = oai.chat.completions.create(model="scripted-model", messages=ask, max_tokens=5)
    assert short.choices[0].message.content == "I don't know…"
    assert short.choices[0].finish_reason == "length" and short.model_extra["sources"]
    # room for "I don't know ... listed as sources" but not for the matches' titles: no titles
    fits = model.count_tokens("I don't know. Nothing in the documents you can read answers "
                              "this; the closest matches I found are listed as sources.")  # fmt: skip
    mid = oai.chat.completions.create(model="scripted-model", messages=ask, max_tokens=fits)
    assert mid.choices[0].message.content.endswith("listed as sources.")
    assert mid.choices[0].finish_reason == "stop"


def test_the_seed_reaches_the_model_from_the_documents_and_alone(oai, model):
    """`seed` was dropped: every request sampled with the engine's one seed."""
    ask = [{"role": "user", "content": "How many days of annual leave in Paris?"}]
    oai.chat.completions.create(model="scripted-model", messages=ask, seed=42, temperature=0.7)
    oai.chat.completions.create(model="scripted-model", messages=ask, seed=0, stream=True)
    oai.chat.completions.create(model="hearth-plain", messages=ask, seed=7)
    oai.chat.completions.create(model="scripted-model", messages=ask)  # none: the engine's own
    assert model.seeds == [42, 0, 7, None]


@pytest.mark.parametrize("seed", [-1, 2**31, 2**63, 1.5, "3", True])
def test_a_seed_out_of_range_or_not_an_integer_is_refused(client, model, seed):
    body = {"messages": [{"role": "user", "content": "annual leave in Paris"}], "seed": seed}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "seed" and error["type"] == "invalid_request_error"
    assert model.seeds == []


def test_an_i_dont_know_names_its_closest_matches_in_the_text(oai):
    """Chat clients show the message, not `sources`: the refusal says where it looked."""
    ask = [{"role": "user", "content": "Who won the football world cup?"}]
    refused = oai.chat.completions.create(model="scripted-model", messages=ask)
    text, titles = refused.choices[0].message.content, refused.model_extra["sources"]
    assert refused.model_extra["abstained"] and titles
    assert text.startswith("I don't know. Nothing in the documents you can read answers this.")
    assert f"The closest matches I found: {titles[0]['title']}" in text
    assert "listed as sources" not in text
    chunks = list(oai.chat.completions.create(model="scripted-model", messages=ask, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text


def test_hearth_plain_is_listed_and_answers_without_the_documents(oai, model):
    """A chat front-end's task model (titles, tags) can only be picked by name: it cannot send
    `"retrieval": false`, and its title prompt got a knowledge-base "I don't know"."""
    assert [m.id for m in oai.models.list().data] == ["scripted-model", "hearth-plain"]
    assert oai.models.retrieve("hearth-plain").model_extra["documents"] is False
    assert oai.models.retrieve("scripted-model").id == "scripted-model"
    with pytest.raises(openai.NotFoundError, match="no model 'gpt-4o'"):
        oai.models.retrieve("gpt-4o")
    ask = [{"role": "system", "content": "Title this chat."}, {"role": "user", "content": "hi"}]
    completion = oai.chat.completions.create(model="hearth-plain", messages=ask)
    assert model.prompts[-1] == ask and completion.model_extra["sources"] == []


@pytest.mark.parametrize("stream", [False, True])
def test_the_model_alone_stops_at_a_stop_string(oai, model, stream):
    model.answer = "one\ntwo\nthree"
    ask = [{"role": "user", "content": "count"}]
    reply = oai.chat.completions.create(
        model="hearth-plain", messages=ask, stop=["\n"], stream=stream
    )
    text = (
        "".join(c.choices[0].delta.content or "" for c in reply)
        if stream
        else reply.choices[0].message.content
    )
    assert text == "one"


@pytest.mark.parametrize(
    ("pieces", "stops", "sent"),
    [
        (["a", "b", "END", "c"], ["END"], "ab"),
        (["ab", "E", "N", "Dc"], ["END"], "ab"),  # a stop string spanning pieces
        (["ab", "EN", "x"], ["END"], "abENx"),  # the start of one that was not
        (["abc"], ["zz", "b"], "a"),
        (["abc"], [], "abc"),
        (["END"], ["END"], ""),
    ],
)
def test_until_stop(pieces, stops, sent):
    from app.routes.openai import until_stop

    assert "".join(until_stop(iter(pieces), stops)) == sent


def test_a_stop_list_is_checked(oai):
    with pytest.raises(openai.BadRequestError, match="up to 4 strings"):
        oai.chat.completions.create(
            model="hearth-plain", messages=[{"role": "user", "content": "hi"}], stop=list("abcde")
        )


def test_what_front_ends_send_by_default_is_accepted(oai, client, model):
    """Tools turned off (`tool_choice: none`), a null `stream`, and a long system prompt or
    an earlier long answer were refused."""
    long = "Answer like a pirate. " * 1500  # 33,000 characters
    completion = oai.chat.completions.create(
        model="scripted-model",
        messages=[
            {"role": "system", "content": long},
            {"role": "user", "content": "annual leave in Paris"},
            {"role": "assistant", "content": long},
            {"role": "user", "content": "How many days of annual leave in Paris?"},
        ],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        tool_choice="none",
    )
    assert "27 days" in completion.choices[0].message.content
    body = {"messages": [{"role": "user", "content": "annual leave in Paris"}], "stream": None}
    response = client.post("/v1/chat/completions", json=body)
    assert (
        response.status_code == 200
        and "27 days" in response.json()["choices"][0]["message"]["content"]
    )


def test_errors_take_openai_shape_and_status(client):
    bad = client.post("/v1/chat/completions", json={"messages": [], "n": 2})
    assert bad.status_code == 400  # FastAPI's 422 made the openai client raise another class
    error = bad.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "messages"
    assert error["code"] == "invalid_request"
    garbled = client.post(
        "/v1/chat/completions",
        content=b'{"messages": [',
        headers={"Content-Type": "application/json"},
    )
    assert garbled.status_code == 400
    assert garbled.json()["error"]["message"].startswith("body: the body is not valid JSON")
    wrong = client.get("/v1/models", headers={"Authorization": "Bearer hk_not-a-key"})
    assert wrong.json()["error"]["type"] == "authentication_error"
    missing = client.post("/v1/embeddings", json={"input": "hi"})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert "/v1/chat/completions only" in missing.json()["error"]["message"]
    assert client.post("/api/query", json={}).status_code == 422  # Hearth's own API keeps it


def test_a_stream_says_why_it_broke_and_ends(client, monkeypatch):
    """Only Hearth's own errors were caught: any other cut the stream with no [DONE]."""

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("app.rag.attribute", broken)  # after the model wrote its answer
    body = {"messages": [{"role": "user", "content": "annual leave in Paris"}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.headers["x-accel-buffering"] == "no"
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert '"code": "internal_error"' in lines[-2] and "boom" not in lines[-2]
