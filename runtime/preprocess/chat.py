"""Chat templates: a list of {"role", "content"} messages -> the prompt string, rendered exactly as
transformers 4.57's `apply_chat_template` does (a sandboxed jinja2 environment with trim_blocks and
lstrip_blocks, loop controls, its `tojson`, `raise_exception` and `strftime_now`; the tokenizer's special
tokens as variables; a final assistant message continued rather than closed).

jinja2 is the runtime extra `edgetool[chat]`, imported only when a chat is rendered."""
from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache

from ..errors import EngineMissingError, UsageError

_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


def is_chat(value) -> bool:
    """One chat: a list (or tuple) of dicts, each with "role" and "content"."""
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(m, dict) for m in value)


def check_chat(messages) -> list[dict]:
    for i, m in enumerate(messages):
        if "role" not in m or "content" not in m:
            raise UsageError(f"Chat message {i} has keys {sorted(m)}; each message needs 'role' and 'content', e.g. "
                             "{'role': 'user', 'content': 'Hello'}.")
    return [dict(m) for m in messages]


@lru_cache(maxsize=4)
def _compiled(template: str):
    try:
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        raise EngineMissingError("Chat input renders the model's chat template with jinja2, which is not installed. "
                                 "Install it: pip install 'edgetool[chat]'.") from None

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    class GenerationTag(jinja2.ext.Extension):
        """`{% generation %}...{% endgeneration %}` (assistant-mask markers) renders its body unchanged."""

        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller):
            return caller()

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


def render_chat(template: str | None, messages: list[dict], *, add_generation_prompt: bool,
                continue_final_message: bool, special_tokens: dict[str, str]) -> str:
    if not template:
        raise UsageError("This bundle's tokenizer has no chat_template, so it takes text prompts, not chat messages. "
                         "Pass a string, or export a checkpoint whose tokenizer_config.json has a chat_template.")
    chat = check_chat(messages)
    if continue_final_message:
        chat[-1] = {**chat[-1], "content": chat[-1]["content"] + _CONTINUE_TAG}
    try:
        rendered = _compiled(template).render(messages=chat, tools=None, documents=None,
                                              add_generation_prompt=add_generation_prompt, **special_tokens)
    except Exception as e:  # jinja2's TemplateError and what the template raises through raise_exception
        raise UsageError(f"The model's chat template refused these messages ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}).") from None
    if continue_final_message:
        final = messages[-1]["content"]
        if final.strip() not in rendered or _CONTINUE_TAG.strip() not in rendered:
            raise UsageError("The last message is to be continued, but the chat template drops part of it; "
                             "pass continue_final_message=False.")
        at = rendered.rindex(_CONTINUE_TAG.strip())
        rendered = rendered[:at] if rendered[at:at + len(_CONTINUE_TAG)] == _CONTINUE_TAG else rendered[:at].rstrip()
    return rendered
