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

from jinja2 import TemplateError
from jinja2.ext import loopcontrols
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


def environment():
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
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


if __name__ == "__main__":
    main()
