// Chat formatting per template family (no model needed).
import assert from "node:assert/strict";
import { test } from "node:test";

import { detectChatFamily, formatChat } from "kvlite";

const messages = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "Hi" },
  { role: "assistant", content: "Hello!" },
  { role: "user", content: "Name a colour." },
];

test("families are recognised by their marker tokens", () => {
  assert.equal(detectChatFamily("{{ '<|start_header_id|>' + message['role'] }}"), "llama3");
  assert.equal(detectChatFamily("{{'<|im_start|>' + message['role'] + '\\n'}}"), "chatml");
  assert.equal(detectChatFamily("{{ bos_token + '[INST] ' + content + ' [/INST]' }}"), "llama2");
  assert.equal(detectChatFamily("{{ '<start_of_turn>' + role + '\n' + message['content'] | trim }}"), "gemma");
  assert.equal(detectChatFamily("{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{{ '<|assistant|>\n' }}"), "phi3");
  // Zephyr marks turns like Phi-3 but ends them with </s>: not Phi-3's format.
  assert.equal(detectChatFamily("{{ '<|user|>\n' + message['content'] + eos_token }}{{ '<|assistant|>' }}"), null);
  assert.equal(detectChatFamily("{{ content }}"), null);
  assert.equal(detectChatFamily(undefined), null);
});

test("without a template, the architecture picks the family where it has only one", () => {
  assert.equal(detectChatFamily(undefined, "qwen2"), "chatml");
  assert.equal(detectChatFamily(undefined, "qwen3"), "chatml");
  assert.equal(detectChatFamily(undefined, "gemma2"), "gemma");
  assert.equal(detectChatFamily(undefined, "gemma3"), "gemma");
  assert.equal(detectChatFamily(undefined, "phi3"), "phi3");
  assert.equal(detectChatFamily(undefined, "llama"), null);  // base and chat llamas differ
  assert.equal(detectChatFamily("{{'<|im_start|>'}}", "gemma3"), "chatml");  // the template wins
});

test("Gemma: model turns, the system prompt heads the first user turn", () => {
  assert.equal(
    formatChat("gemma", messages),
    "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n" +
      "<start_of_turn>user\nName a colour.<end_of_turn>\n<start_of_turn>model\n",
  );
});

test("Phi-3", () => {
  assert.equal(
    formatChat("phi3", messages),
    "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n" +
      "<|user|>\nName a colour.<|end|>\n<|assistant|>\n",
  );
});

test("Llama 3", () => {
  assert.equal(
    formatChat("llama3", messages),
    "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
      "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>" +
      "<|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\n",
  );
});

test("ChatML", () => {
  assert.equal(
    formatChat("chatml", messages),
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n" +
      "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n",
  );
});

test("Llama 2 puts the system prompt in the first instruction", () => {
  assert.equal(
    formatChat("llama2", messages),
    "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Name a colour. [/INST]",
  );
});

test("no template: a plain transcript", () => {
  assert.equal(formatChat(null, [{ role: "user", content: "Hi" }]), "user: Hi\nassistant:");
});
