#!/usr/bin/env python3
"""Reference renderings of test/fixtures/chat/*.jinja by Python's jinja2, set up as
transformers' apply_chat_template sets it up (a sandboxed environment with trim_blocks,
lstrip_blocks and loopcontrols; its tojson, raise_exception and strftime_now; tools and
documents passed as None). Writes test/fixtures/chat/refs.json. A development tool: the tests
read the JSON and never need Python.

    python3 scripts/chat-template-refs.py
"""
import json
import os
from datetime import datetime

from jinja2 import TemplateError, nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "chat")

# Each family's special tokens as their tokenizers define them.
SPECIAL = {
    "qwen3": {"bos_token": "", "eos_token": "<|im_end|>"},
    "gemma3": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "phi4": {"bos_token": "<|endoftext|>", "eos_token": "<|im_end|>"},
}

CASES = [
    {"name": "one message", "messages": [{"role": "user", "content": "Hello!"}]},
    {
        "name": "multi-turn",
        "messages": [
            {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Tell me a story."},
        ],
    },
    {
        "name": "with a system message",
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 3 + 3?"},
        ],
    },
    {
        "name": "thinking in the history",
        "families": ["qwen3"],
        "messages": [
            {"role": "user", "content": "Is 7 prime?"},
            {"role": "assistant", "content": "<think>\n7 has no divisors but 1 and 7.\n</think>\n\nYes."},
            {"role": "user", "content": "And 9?"},
        ],
    },
    {
        "name": "thinking switched off",
        "families": ["qwen3"],
        "variables": {"enable_thinking": False},
        "messages": [{"role": "user", "content": "Is 7 prime?"}],
    },
    {
        "name": "roles that do not alternate",
        "families": ["gemma3"],
        "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    },
]


class AssistantTracker(Extension):
    """transformers' {% generation %} ... {% endgeneration %} block (it marks the assistant's
    part for training masks; for rendering, the body is output as is)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def environment():
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        # a fixed moment, so the references do not change with the day (the test passes the same)
        return datetime(2026, 1, 15, 12, 0, 0).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    env = environment()
    out = []
    for family, special in SPECIAL.items():
        source = open(os.path.join(HERE, family + ".jinja"), encoding="utf-8").read()
        template = env.from_string(source)
        for case in CASES:
            if "families" in case and family not in case["families"]:
                continue
            for add_generation_prompt in (True, False):
                entry = {
                    "family": family,
                    "case": case["name"],
                    "messages": case["messages"],
                    "variables": case.get("variables", {}),
                    "special": special,
                    "add_generation_prompt": add_generation_prompt,
                }
                try:
                    entry["expected"] = template.render(
                        messages=case["messages"],
                        tools=None,
                        documents=None,
                        add_generation_prompt=add_generation_prompt,
                        **special,
                        **case.get("variables", {}),
                    )
                except TemplateError as e:
                    entry["error"] = str(e)
                out.append(entry)
    with open(os.path.join(HERE, "refs.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(out)} cases")

    # The templates real GGUF files ship (llama.cpp's models/templates): three conversations each,
    # with the generation prompt.
    conversations = {
        "one message": [{"role": "user", "content": "Hello!"}],
        "multi-turn": CASES[1]["messages"],
        "with a system message": CASES[2]["messages"],
    }
    special = {"bos_token": "<s>", "eos_token": "</s>"}
    tdir = os.path.join(HERE, "templates")
    refs = []
    for name in sorted(os.listdir(tdir)):
        if not name.endswith(".jinja"):
            continue
        source = open(os.path.join(tdir, name), encoding="utf-8").read()
        for case, messages in conversations.items():
            entry = {"template": name, "case": case, "messages": messages}
            try:
                entry["expected"] = env.from_string(source).render(
                    messages=messages, tools=None, documents=None, add_generation_prompt=True, **special
                )
            except Exception as e:  # jinja2 raised: halfbyte must raise too
                entry["error"] = f"{type(e).__name__}: {e}"
            refs.append(entry)
    with open(os.path.join(HERE, "refs-templates.json"), "w", encoding="utf-8") as f:
        json.dump({"special": special, "cases": refs}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(refs)} template cases ({sum('error' in r for r in refs)} raise)")


if __name__ == "__main__":
    main()
