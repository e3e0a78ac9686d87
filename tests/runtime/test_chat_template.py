"""runtime/preprocess/chat.py renders the same prompt string as transformers 4.57's apply_chat_template
(tokenize=False) for templates in the styles real checkpoints ship (ChatML, Llama 3 with tojson and
loop controls, Gemma raising on a system message), with and without a generation prompt, and with a
final assistant message continued."""
from __future__ import annotations

import pytest

from edgetool.runtime.errors import UsageError
from edgetool.runtime.preprocess.chat import render_chat

TEMPLATES = {
    "chatml": ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
               "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"),
    "llama3": ("{{- bos_token }}\n{%- for message in messages %}\n    {%- if loop.index0 > 5 %}{% break %}{% endif %}\n"
               "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim "
               "+ '<|eot_id|>' }}\n    {%- if message.meta is defined %}{{ message.meta | tojson }}{% endif %}\n"
               "{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}\n"
               "{%- endif %}\n"),
    "gemma": ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
              "{% endif %}{% for message in messages %}{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
              "{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + "
              "message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}"
              "{{'<start_of_turn>model\n'}}{% endif %}"),
}
CHATS = {
    "user": [{"role": "user", "content": "Hi there, ünïcode ✓"}],
    "system": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": " What now? "}],
    "prefill": [{"role": "user", "content": "Name a color."}, {"role": "assistant", "content": "The color is "}],
}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    from edgetool.export.reference.generation import train_gpt2_tokenizer

    out = tmp_path_factory.mktemp("tok")
    train_gpt2_tokenizer(out)
    return AutoTokenizer.from_pretrained(str(out))


@pytest.mark.parametrize("chat", list(CHATS))
@pytest.mark.parametrize("template", list(TEMPLATES))
def test_render_equals_apply_chat_template(tokenizer, template, chat):
    messages = CHATS[chat]
    cont = messages[-1]["role"] == "assistant"
    special = {k: str(v) for k, v in tokenizer.special_tokens_map.items() if isinstance(v, str)}
    kw = dict(add_generation_prompt=not cont, continue_final_message=cont)
    try:
        theirs = tokenizer.apply_chat_template(messages, chat_template=TEMPLATES[template], tokenize=False, **kw)
    except Exception as e:  # noqa: BLE001 - the template refuses this chat: so must we
        with pytest.raises(UsageError, match="refused"):
            render_chat(TEMPLATES[template], messages, special_tokens=special, **kw)
        assert "System role" in str(e)
        return
    assert render_chat(TEMPLATES[template], messages, special_tokens=special, **kw) == theirs
    if not cont:
        plain = tokenizer.apply_chat_template(messages, chat_template=TEMPLATES[template], tokenize=False)
        assert render_chat(TEMPLATES[template], messages, special_tokens=special, add_generation_prompt=False,
                           continue_final_message=False) == plain


def test_bad_messages_and_missing_template_are_usage_errors():
    with pytest.raises(UsageError, match="needs 'role' and 'content'"):
        render_chat(TEMPLATES["chatml"], [{"text": "hi"}], add_generation_prompt=True, continue_final_message=False,
                    special_tokens={})
    with pytest.raises(UsageError, match="no chat_template"):
        render_chat(None, CHATS["user"], add_generation_prompt=True, continue_final_message=False, special_tokens={})
