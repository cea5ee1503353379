#!/usr/bin/env python3
"""Renders chat templates with Python's jinja2 set up as Hugging Face
transformers' `apply_chat_template` sets it up, as the reference for
tests/chat_templates_jinja2.rs:

- ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
  extensions=[generation-tag extension, jinja2.ext.loopcontrols]);
- `tojson` = json.dumps(x, ensure_ascii=False, indent=, separators=, sort_keys=);
- `raise_exception(msg)` raises TemplateError; `strftime_now(fmt)` formats
  "now", fixed here (NOW below, written into the output) so both sides agree.

Pairs: every template in tests/templates/*.jinja with every conversation in
tests/templates/conversations/*.json, plus the field cases in
../shared/cases (templates read from the GGUF files with the `gguf` package),
plus every conversation with the template stored in each real model header
of MODEL_HEADERS (read with the `gguf` package, rendered with that model's
own BOS and EOS texts).

A conversation may hold `tools`, `continue_final` (the conversation ends
with an assistant message that is continued as llama-server does: everything
before it rendered with the generation prompt, its text appended) and
`add_generation_prompt` (true unless it says false).
Messages reach the template as llama-server passes them (see normalize()):
rebuilt with the keys role, content, name, tool_call_id, tool_calls in that
order, text parts of `content` joined ("\\n" after non-empty text), and a
tool call's `arguments` string parsed into an object.

Usage: scripts/render_templates_jinja2.py OUT.json
"""
import datetime
import glob
import json
import os
import sys

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOW = datetime.datetime(2025, 3, 7, 9, 5, 3)
BOS, EOS = "<|bos|>", "<|eos|>"
# Real models' GGUF headers in models/ (scripts/fetch-models.sh) whose
# `tokenizer.chat_template` is rendered with every conversation.
MODEL_HEADERS = ["DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.part0000.gguf"]


class GenerationTag(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}` renders its body (transformers'
    AssistantTracker without the mask bookkeeping)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def parsed_arguments(call):
    """A tool call with its `arguments` JSON string parsed into an object, as
    llama-server (common/chat.cpp, minja's object-arguments polyfill) and
    vLLM (chat_utils.py) parse it before rendering: the OpenAI API sends a
    string, tool-calling templates expect a dict. A string that is not JSON,
    or not a JSON object, is left as it is. (transformers itself passes the
    string through; the reference follows the servers, as tabllm does.)"""
    call = dict(call)
    function = call.get("function")
    if isinstance(function, dict) and isinstance(function.get("arguments"), str):
        try:
            args = json.loads(function["arguments"])
        except ValueError:
            args = None
        if isinstance(args, dict):
            call["function"] = dict(function, arguments=args)
    return call


# The keys of a message as llama-server rebuilds it for the template
# (common_chat_msgs_to_json_oaicompat in common/chat.cpp), in this order;
# `content` is null when absent, the others only when given.
MESSAGE_KEYS = ("role", "content", "name", "tool_call_id", "tool_calls")


def normalize(message, parse_arguments=True):
    assert set(message) <= set(MESSAGE_KEYS) | {"refusal"}, f"a key tabllm refuses: {message}"
    m = {k: message[k] for k in MESSAGE_KEYS if k in message}
    m.setdefault("content", None)
    m = {k: m[k] for k in MESSAGE_KEYS if k in m}
    if parse_arguments and isinstance(m.get("tool_calls"), list):
        m["tool_calls"] = [parsed_arguments(c) if isinstance(c, dict) else c for c in m["tool_calls"]]
    content = m.get("content")
    if isinstance(content, list):
        text = ""
        for part in content:
            if text:
                text += "\n"
            text += part["text"]
        m["content"] = text
    return m


def render(env, source, conversation, bos=BOS, eos=EOS):
    result = render_messages(env, source, conversation, [normalize(m) for m in conversation["messages"]], bos, eos)
    if "error" in result and any(m.get("tool_calls") for m in conversation["messages"]):
        # A template written for string arguments (DeepSeek-R1's adds them to
        # a string) gets them as sent: llama-server gives objects only to the
        # templates that need them (tabllm: ChatTemplate::render_with).
        unparsed = [normalize(m, parse_arguments=False) for m in conversation["messages"]]
        retry = render_messages(env, source, conversation, unparsed, bos, eos)
        if "rendered" in retry:
            return retry
    return result


def render_messages(env, source, conversation, messages, bos, eos):
    kwargs = {"bos_token": bos, "eos_token": eos, "add_generation_prompt": conversation.get("add_generation_prompt", True)}
    if "tools" in conversation:
        kwargs["tools"] = conversation["tools"]
    tail = ""
    if conversation.get("continue_final") and messages and messages[-1]["role"] == "assistant":
        tail = messages[-1]["content"] or ""
        messages = messages[:-1]
    try:
        return {"rendered": env.from_string(source).render(messages=messages, **kwargs) + tail}
    except Exception as e:  # raise_exception, and errors such as str + None
        return {"error": f"{type(e).__name__}: {e}"}


def case_templates():
    import gguf

    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "..", "shared", "cases", "*", "*.gguf"))):
        field = gguf.GGUFReader(path).fields["tokenizer.chat_template"]
        rel = os.path.relpath(path, os.path.join(ROOT, "..", "shared", "cases"))
        out[rel] = bytes(field.parts[field.data[0]]).decode("utf-8")
    return out


def model_templates():
    """Each MODEL_HEADERS file's template and BOS/EOS token texts."""
    from gguf_header import HeaderOnlyReader, metadata_value

    out = []
    for name in MODEL_HEADERS:
        path = os.path.join(ROOT, "models", name)
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: run scripts/fetch-models.sh")
        r = HeaderOnlyReader(path)
        tokens = metadata_value(r, path, "tokenizer.ggml.tokens")
        out.append({
            "model": name,
            "chat_template": metadata_value(r, path, "tokenizer.chat_template"),
            "bos_token": tokens[int(metadata_value(r, path, "tokenizer.ggml.bos_token_id"))],
            "eos_token": tokens[int(metadata_value(r, path, "tokenizer.ggml.eos_token_id"))],
        })
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    env = make_env()
    conv_dir = os.path.join(ROOT, "tests", "templates", "conversations")
    conversations = {
        os.path.basename(p)[: -len(".json")]: json.load(open(p, encoding="utf-8"))
        for p in sorted(glob.glob(os.path.join(conv_dir, "*.json")))
    }
    corpus = []
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "templates", "*.jinja"))):
        source = open(path, encoding="utf-8").read()
        for name, conv in conversations.items():
            row = {"template": os.path.basename(path), "conversation": name}
            row.update(render(env, source, conv))
            corpus.append(row)
    # The field cases (shared/cases/README.md): which messages (and tools),
    # paths under shared/cases/, go with which template.
    cases_dir = os.path.join(ROOT, "..", "shared", "cases")
    cases = []
    args_as_string = ("field3/messages/tool_args_as_string.json", "field3/messages/tools_weather.json")
    pairs = {
        "templates/strftime_now.gguf": ["messages/hi.json"],
        "templates/strftime_now_guarded.gguf": ["messages/hi.json"],
        "templates/loop_previtem_tools.gguf": ["messages/tool_results.json"],
        "templates/generation_block.gguf": ["messages/hi.json", "messages/tool_results.json"],
        "templates/add_bos_template_without_bos.gguf": ["messages/hi.json", "messages/content_parts.json"],
        "tests/templates/smollm2.jinja": ["messages/content_parts.json", "messages/capital.json", "messages/assistant_prefill.json"],
        "tests/templates/qwen2.5-instruct.jinja": ["messages/tool_results.json", "messages/assistant_prefill.json", args_as_string],
        "tests/templates/llama-3.2-tools.jinja": [args_as_string],
        "tests/templates/mistral-instruct.jinja": [args_as_string],
        "tests/templates/python_values.jinja": [args_as_string],
    }
    templates = case_templates()
    for t in pairs:
        if t.startswith("tests/"):
            templates[t] = open(os.path.join(ROOT, t), encoding="utf-8").read()
    for tname, msgs in pairs.items():
        for m in msgs:
            mname, tools = m if isinstance(m, tuple) else (m, None)
            # A final assistant message is continued (tabllm's default, llama-server's too).
            conv = {"messages": json.load(open(os.path.join(cases_dir, mname), encoding="utf-8")), "continue_final": True}
            row = {"template": tname, "messages": mname}
            if tools:
                conv["tools"] = json.load(open(os.path.join(cases_dir, tools), encoding="utf-8"))
                row["tools"] = tools
            row.update(render(env, templates[tname], conv))
            cases.append(row)
    models = []
    for m in model_templates():
        rows = []
        for name, conv in conversations.items():
            row = {"conversation": name}
            row.update(render(env, m["chat_template"], conv, m["bos_token"], m["eos_token"]))
            rows.append(row)
        models.append(dict(m, rows=rows))
    out = {
        "generator": "scripts/render_templates_jinja2.py",
        "jinja2": jinja2.__version__,
        "now": NOW.isoformat(),
        "bos_token": BOS,
        "eos_token": EOS,
        "corpus": corpus,
        "cases": cases,
        "models": models,
    }
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    errors = sum("error" in r for r in corpus)
    print(
        f"{sys.argv[1]}: {len(corpus)} corpus pairs ({errors} raise), {len(cases)} field cases, "
        f"{sum(len(m['rows']) for m in models)} model-header pairs"
    )


if __name__ == "__main__":
    main()
